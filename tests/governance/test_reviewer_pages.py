"""Reviewer pages without dead ends (issue 15): the designed refusal page, reviewers' read
access to calibration, the checkpoint queue as a work page, the ledger list with linked
subjects, JSON payloads and the diff a decided version keeps."""

from __future__ import annotations

import datetime as dt
import logging
from html import unescape

import pytest
from django.contrib import admin
from django.urls import reverse

from governance.models import Checkpoint, CheckpointPriority, LedgerEntry
from governance.services.checkpoints import checkpoint_open
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db


def register(tenant, author, version="1.0.0", base=None, **payload):
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(**payload),
        actor=Actor.for_user(author),
        base_version=base,
        submit=True,
    )


@pytest.fixture
def activated_pair(tenant, author, reviewer):
    """v1.0.0 active, then v1.1.0 (a moved threshold) approved and activated over it."""
    first = version_approve(version=register(tenant, author), user=reviewer, reason="ok")
    version_activate(version=first, user=reviewer, reason="first")
    second = register(tenant, author, "1.1.0", base=first, thresholds=[0.45, 0.7])
    second = version_approve(version=second, user=reviewer, reason="crowding confirmed")
    return first, version_activate(version=second, user=reviewer, reason="ship it")


# 2. Dead ends ---------------------------------------------------------------------------


def test_a_refused_admin_page_names_the_permission_and_links_to_the_control_room(client, viewer):
    client.force_login(viewer)

    response = client.get(reverse("admin:auth_user_changelist"))

    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="permission-denied"' in html
    assert "Can view user" in html and "auth.view_user" in html
    assert f'href="{reverse("admin:index")}"' in html
    assert "govloop control room" in html  # the admin's header: the page has navigation


def test_a_refused_transition_says_what_was_refused(client, viewer, tenant, author):
    version = register(tenant, author)
    client.force_login(viewer)

    response = client.get(
        reverse("admin:governance_configversion_transition", args=[version.pk, "approve"])
    )

    assert response.status_code == 403
    html = unescape(response.content.decode())
    assert "You may not approve this config version" in html
    assert "Can take reviewer decisions" in html and "governance.review" in html


def test_a_refusal_logs_one_line_without_a_traceback(client, viewer, caplog):
    client.force_login(viewer)

    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get(reverse("admin:auth_user_changelist"))

    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in refusals] == [
        "Forbidden (Permission denied): /admin/auth/user/"
    ]
    assert all(r.exc_info is None for r in refusals)


@pytest.mark.parametrize("group_user", ["reviewer", "viewer"])
@pytest.mark.parametrize(
    "model",
    [
        "metricssnapshot",
        "calibrationreport",
        "configproposal",
        "calibratorversion",
        "calibratormodel",
        "trainingjob",
        "decision",
    ],
)
def test_reviewers_and_viewers_read_the_calibration_pages(client, request, group_user, model):
    client.force_login(request.getfixturevalue(group_user))

    assert client.get(reverse(f"admin:calibration_{model}_changelist")).status_code == 200
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="app-calibration"' in index or "/admin/calibration/" in index


def test_view_site_leads_to_a_page_that_exists(client, reviewer):
    assert admin.site.site_url == "/api/docs/"
    assert client.get(admin.site.site_url).status_code == 200


# 5. The checkpoint queue ------------------------------------------------------------------


def test_the_queue_links_each_row_to_the_page_where_its_subject_is_decided(
    client, tenant, author, reviewer
):
    version = register(tenant, author)
    checkpoint_open(
        tenant=tenant,
        checkpoint_type="custom",
        description="Check the new data source by hand " * 4,
        priority=CheckpointPriority.CRITICAL,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=5),
    )
    client.force_login(reviewer)

    html = client.get(reverse("admin:governance_checkpoint_changelist")).content.decode()

    decide = reverse("govloop-version-decide", args=[version.pk])
    assert f'<a class="decide" href="{decide}">config version #{version.pk} →</a>' in html
    loose = Checkpoint.objects.get(checkpoint_type="custom")
    own = reverse("admin:governance_checkpoint_change", args=[loose.pk])
    assert f'<a class="decide" href="{own}">this checkpoint →</a>' in html
    # Most urgent first; its age reads at a glance; the full description is shown.
    assert html.index("this checkpoint →") < html.index(f"config version #{version.pk} →")
    assert ">5 h<" in html
    assert "Check the new data source by hand " * 4 in html
    assert "in 2 d" in html


def test_tripwire_and_policy_subjects_link_to_their_kpi_and_regret_pages():
    from governance.control_room import subject_url

    assert subject_url("tripwire.regressionpolicy", "5") == reverse("govloop-kpi", args=[5])
    assert subject_url("learning.learnedpolicy", "1") == reverse("govloop-regret", args=[1])
    assert subject_url("governance.configversion", "3") == reverse(
        "govloop-version-decide", args=[3]
    )
    assert subject_url("tripwire.driftalert", "2") == reverse(
        "admin:tripwire_driftalert_change", args=[2]
    )
    assert subject_url("", "") is None


# 7. The ledger list -----------------------------------------------------------------------


def test_the_ledger_list_shows_actor_and_time_first_and_links_subjects(
    client, reviewer, activated_pair
):
    _, second = activated_pair
    client.force_login(reviewer)

    html = client.get(reverse("admin:governance_ledgerentry_changelist")).content.decode()

    header = html[html.index("<thead>") : html.index("</thead>")]
    assert header.index("Created at") < header.index("Actor") < header.index("Kind")
    decide = reverse("govloop-version-decide", args=[second.pk])
    assert f'<a href="{decide}">config version #{second.pk}</a>' in html
    assert 'id="nav-sidebar"' not in html


def test_a_ledger_entry_shows_its_payload_as_json(client, reviewer, activated_pair):
    entry = LedgerEntry.objects.filter(kind="version.activated").order_by("-seq").first()
    client.force_login(reviewer)

    html = unescape(
        client.get(reverse("admin:governance_ledgerentry_change", args=[entry.pk])).content.decode()
    )

    assert '"previous": "1.0.0"' in html and '"acknowledged": []' in html
    assert "{'" not in html


# 6. The decide page keeps its diff ------------------------------------------------------------


def test_an_activated_version_keeps_its_diff_against_the_version_it_replaced(
    client, reviewer, activated_pair
):
    _, second = activated_pair
    client.force_login(reviewer)

    html = unescape(
        client.get(reverse("govloop-version-decide", args=[second.pk])).content.decode()
    )

    assert "Diff against v1.0.0, the version it replaced" in html
    assert "No differences" not in html
    assert "<code>thresholds[0]</code>" in html
    assert '"reason": "ship it"' in html  # the ledger payloads, as JSON


def test_the_first_activated_version_says_it_replaced_nothing(client, reviewer, activated_pair):
    first, _ = activated_pair
    client.force_login(reviewer)

    html = client.get(reverse("govloop-version-decide", args=[first.pk])).content.decode()

    assert "Diff against nothing (it replaced no version)" in html
