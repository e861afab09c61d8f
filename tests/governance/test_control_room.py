import pytest
from django.urls import reverse

from governance.control_room import collect_panels, control_room
from governance.models import VersionState
from governance.services.checkpoints import checkpoint_open
from governance.services.ledger import Actor
from governance.services.versions import version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending_version(tenant, author):
    return version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        description="first scoring config",
        changes=[
            {
                "description": "initial thresholds",
                "date": "2026-11-24",
                "impact": "non-breaking",
                "affected_components": ["bands"],
            }
        ],
        submit=True,
    )


def test_every_panel_renders_for_a_tenant_without_data(tenant):
    panels = collect_panels(tenant=tenant)

    keys = {p.key for p in panels}
    assert {"go-live", "checkpoints", "versions"} <= keys
    assert all(p.rows or p.empty for p in panels)


def test_the_control_room_lists_critical_checkpoints_first_and_pending_versions(
    tenant, pending_version
):
    checkpoint_open(
        tenant=tenant,
        checkpoint_type="tripwire_triggered",
        description="approval_rate dropped 40%",
        priority="CRITICAL",
        blocking=True,
        actor=Actor.system("test"),
    )

    panels = {p.key: p for p in collect_panels(tenant=tenant)}

    queue = panels["checkpoints"]
    assert queue.tone == "danger"
    assert [r.label for r in queue.rows][:2] == ["Critical", "Normal"]
    versions = panels["versions"]
    assert versions.rows[0].value == "awaits approval"
    assert versions.rows[0].url == reverse("govloop-version-decide", args=[pending_version.pk])


def test_a_reviewer_sees_only_the_tenants_of_their_memberships(tenant, other_tenant, reviewer):
    room = control_room(user=reviewer, tenant_slug=other_tenant.slug)

    assert room["tenants"] == [tenant]
    assert room["tenant"] == tenant


def test_the_admin_home_shows_the_control_room(client, tenant, reviewer, pending_version):
    client.force_login(reviewer)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Control room" in body and 'id="panel-checkpoints"' in body
    assert "scoring v1.0.0" in body


def test_the_decide_page_shows_the_diff_and_the_change_summary(client, reviewer, pending_version):
    client.force_login(reviewer)

    response = client.get(reverse("govloop-version-decide", args=[pending_version.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "initial thresholds" in body
    assert "<code>thresholds</code>" in body or "thresholds" in body
    assert 'value="approve"' in body


def test_approving_from_the_decide_page_calls_the_service(client, reviewer, pending_version):
    client.force_login(reviewer)
    url = reverse("govloop-version-decide", args=[pending_version.pk])

    response = client.post(url, {"decision": "approve", "reason": "looks right"})

    assert response.status_code == 302
    pending_version.refresh_from_db()
    assert pending_version.state == VersionState.APPROVED


def test_the_author_cannot_approve_from_the_decide_page(client, author, pending_version):
    client.force_login(author)
    url = reverse("govloop-version-decide", args=[pending_version.pk])

    page = client.get(url).content.decode()
    client.post(url, {"decision": "approve", "reason": "mine"})

    assert 'value="approve"' not in page
    pending_version.refresh_from_db()
    assert pending_version.state == VersionState.PENDING_APPROVAL


def test_a_rejection_without_a_reason_is_refused(client, reviewer, pending_version):
    client.force_login(reviewer)
    url = reverse("govloop-version-decide", args=[pending_version.pk])

    response = client.post(url, {"decision": "reject", "reason": ""}, follow=True)

    pending_version.refresh_from_db()
    assert pending_version.state == VersionState.PENDING_APPROVAL
    assert "reject refused" in response.content.decode().lower()


def test_another_tenants_version_is_not_found(client, other_tenant, make_reviewer, pending_version):
    outsider = make_reviewer("olga", for_tenant=other_tenant)
    client.force_login(outsider)

    response = client.get(reverse("govloop-version-decide", args=[pending_version.pk]))

    assert response.status_code == 404


def test_the_author_submits_a_draft_from_the_decide_page(client, tenant, author):
    draft = version_register(
        tenant=tenant,
        family="scoring",
        version="2.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
    )
    client.force_login(author)
    url = reverse("govloop-version-decide", args=[draft.pk])

    page = client.get(url).content.decode()
    client.post(url, {"decision": "submit"})

    assert 'value="submit"' in page
    draft.refresh_from_db()
    assert draft.state == VersionState.PENDING_APPROVAL


def test_the_version_admin_page_links_the_decide_page(client, reviewer, pending_version):
    client.force_login(reviewer)

    body = client.get(
        reverse("admin:governance_configversion_change", args=[pending_version.pk])
    ).content.decode()

    assert reverse("govloop-version-decide", args=[pending_version.pk]) in body


# Issue 13 on the decide page: four eyes over contributors, reasons, stale bases, rollbacks


def _decide(version):
    return reverse("govloop-version-decide", args=[version.pk])


@pytest.fixture
def stale_proposal(tenant, author, reviewer):
    """Finding 3's history: v1.1.0 drafted on v1.0.0, then v1.2.0 (also on v1.0.0) went active."""
    from governance.services.versions import version_activate, version_approve

    def approved(number, base, **payload):
        version = version_register(
            tenant=tenant,
            family="scoring",
            version=number,
            payload=scoring_payload(**payload),
            base_version=base,
            actor=Actor.for_user(author),
            submit=True,
        )
        return version_approve(version=version, user=reviewer, reason="ok")

    v1 = version_activate(version=approved("1.0.0", None), user=reviewer, reason="go")
    stale = approved("1.1.0", v1, thresholds=[0.42, 0.7])
    version_activate(
        version=approved("1.2.0", v1, thresholds=[0.44, 0.7], confidence_margin=0.05),
        user=reviewer,
        reason="go",
    )
    return stale


def test_a_reviewer_who_edited_the_payload_cannot_approve_from_the_decide_page(
    client, reviewer, pending_version
):
    from governance.services.versions import version_submit, version_update_payload

    edited = version_update_payload(
        version=pending_version,
        payload=scoring_payload(thresholds=[0.2, 0.9]),
        actor=Actor.for_user(reviewer),
    )
    version_submit(version=edited, actor=Actor.for_user(reviewer))
    client.force_login(reviewer)

    page = client.get(_decide(edited)).content.decode()
    response = client.post(_decide(edited), {"decision": "approve", "reason": "mine"}, follow=True)

    assert 'value="approve"' not in page
    assert "user:rita" in page
    assert "four eyes" in response.content.decode()
    edited.refresh_from_db()
    assert edited.state == VersionState.PENDING_APPROVAL


def test_activating_from_the_decide_page_needs_a_reason(client, reviewer, pending_version):
    from governance.services.versions import version_approve

    version = version_approve(version=pending_version, user=reviewer, reason="ok")
    client.force_login(reviewer)

    response = client.post(_decide(version), {"decision": "activate", "reason": ""}, follow=True)

    assert "activate refused" in response.content.decode().lower()
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED


def test_the_decide_page_of_a_stale_version_shows_the_three_way_diff_and_a_rebase_button(
    client, second_reviewer, stale_proposal
):
    client.force_login(second_reviewer)

    html = client.get(_decide(stale_proposal)).content.decode()

    assert 'id="stale-base"' in html
    assert "Both sides touched" in html and "thresholds[0]" in html
    assert "confidence_margin" in html  # base -> active
    assert 'value="rebase"' in html
    assert 'value="activate"' not in html


def test_rebasing_from_the_decide_page_opens_the_new_drafts_page(
    client, second_reviewer, stale_proposal
):
    from governance.models import ConfigVersion

    client.force_login(second_reviewer)

    response = client.post(
        _decide(stale_proposal), {"decision": "rebase", "reason": "carry it forward"}
    )

    rebased = ConfigVersion.objects.get(version="1.3.0")
    assert response.status_code == 302
    assert response["Location"] == _decide(rebased)
    assert rebased.state == VersionState.DRAFT
    assert rebased.payload["confidence_margin"] == 0.05


def test_the_decide_page_shows_the_rollback_report_and_the_history_as_json(
    client, tenant, author, reviewer
):
    from governance.services.versions import version_activate, version_approve, version_rollback

    def active(number, base, **payload):
        version = version_register(
            tenant=tenant,
            family="scoring",
            version=number,
            payload=scoring_payload(**payload),
            base_version=base,
            actor=Actor.for_user(author),
            submit=True,
        )
        version = version_approve(version=version, user=reviewer, reason="ok")
        return version_activate(version=version, user=reviewer, reason="go")

    v1 = active("1.0.0", None)
    active("1.1.0", v1, bias=0.1)
    v1.refresh_from_db()
    version_rollback(version=v1, user=reviewer, reason="approval rate fell")
    client.force_login(reviewer)

    html = client.get(_decide(v1)).content.decode()
    admin_html = client.get(
        reverse("admin:governance_configversion_change", args=[v1.pk])
    ).content.decode()

    assert 'id="rollback-reports"' in html
    assert "approval rate fell" in html and "v1.1.0" in html
    assert "&quot;reason&quot;: &quot;approval rate fell&quot;" in html  # the ledger payload
    assert "rollback reports" in admin_html.lower() and "approval rate fell" in admin_html
