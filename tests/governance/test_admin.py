import datetime as dt

import pytest
from django.urls import reverse

from governance.models import CheckpointState, LedgerEntry, VersionState
from governance.selectors import active_version
from governance.services.checkpoints import checkpoint_open
from governance.services.ledger import Actor, ledger_append
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def register(tenant, author, version="1.0.0", **payload):
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(**payload),
        base_version=active_version(tenant_id=tenant.pk, family="scoring"),
        actor=Actor.for_user(author),
        submit=True,
    )


def change_url(version):
    return reverse("admin:governance_configversion_change", args=[version.pk])


def transition_url(version, name):
    return reverse("admin:governance_configversion_transition", args=[version.pk, name])


@pytest.fixture
def proposal(tenant, author, reviewer):
    active = version_approve(version=register(tenant, author), user=reviewer, reason="ok")
    version_activate(version=active, user=reviewer, reason="go")
    return register(tenant, author, "1.1.0", thresholds=[0.45, 0.7])


def test_the_version_change_page_shows_the_diff_and_the_ledger_history(client, reviewer, proposal):
    client.force_login(reviewer)

    response = client.get(change_url(proposal))

    assert response.status_code == 200
    html = response.content.decode()
    assert "against v1.0.0" in html
    assert "thresholds[0]" in html
    assert "version.registered" in html
    assert "version.submitted" in html
    assert 'value="approve"' in html
    assert 'value="return_to_draft"' not in html


def test_the_author_gets_no_approve_button_and_the_approve_url_is_refused(client, author, proposal):
    client.force_login(author)

    html = client.get(change_url(proposal)).content.decode()
    response = client.post(transition_url(proposal, "approve"), {"reason": "mine"})

    assert 'value="approve"' not in html
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.state == VersionState.PENDING_APPROVAL


def test_a_reviewer_approves_through_the_reason_form(client, reviewer, proposal):
    client.force_login(reviewer)

    form = client.get(transition_url(proposal, "approve"))
    response = client.post(transition_url(proposal, "approve"), {"reason": "bands hold up"})

    assert form.status_code == 200
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.state == VersionState.APPROVED
    assert proposal.approvals.get().reason == "bands hold up"


def test_a_refused_transition_is_reported_not_raised(client, reviewer, tenant, author):
    breaking = version_approve(
        version=version_register(
            tenant=tenant,
            family="scoring",
            version="2.0.0",
            payload=scoring_payload(),
            changes=[{"description": "new semantics", "impact": "breaking"}],
            actor=Actor.for_user(author),
            submit=True,
        ),
        user=reviewer,
        reason="ok",
    )
    client.force_login(reviewer)

    response = client.post(transition_url(breaking, "activate"), {"reason": "go"}, follow=True)

    assert response.status_code == 200
    assert "acknowledge_breaking" in response.content.decode()
    breaking.refresh_from_db()
    assert breaking.state == VersionState.APPROVED


def test_a_viewer_sees_versions_but_gets_no_buttons_and_the_transition_url_is_refused(
    client, viewer, proposal
):
    client.force_login(viewer)

    listing = client.get(reverse("admin:governance_configversion_changelist"))
    page = client.get(change_url(proposal))
    form = client.get(transition_url(proposal, "approve"))
    post = client.post(transition_url(proposal, "approve"), {"reason": "sneaky"})
    change_post = client.post(change_url(proposal), {"_fsm_transition_to": "approve"})

    assert listing.status_code == 200
    assert page.status_code == 200
    assert "_fsm_transition_to" not in page.content.decode()
    assert form.status_code == 403
    assert post.status_code == 403
    assert change_post.status_code == 403
    proposal.refresh_from_db()
    assert proposal.state == VersionState.PENDING_APPROVAL


def test_an_unknown_transition_name_is_a_404(client, reviewer, proposal):
    client.force_login(reviewer)

    assert client.get(transition_url(proposal, "delete")).status_code == 404


def test_the_version_list_filters_by_family_and_state(client, reviewer, proposal):
    client.force_login(reviewer)

    response = client.get(
        reverse("admin:governance_configversion_changelist"),
        {"family__name": "scoring", "state__exact": "PENDING_APPROVAL"},
    )

    assert response.status_code == 200
    assert [v.pk for v in response.context["cl"].result_list] == [proposal.pk]


def test_the_checkpoint_queue_is_ordered_by_priority_then_age(client, reviewer, tenant):
    def open_at(hours, priority):
        return checkpoint_open(
            tenant=tenant,
            checkpoint_type="custom",
            description=f"{priority} at +{hours}h",
            priority=priority,
            blocking=True,
            now=NOW + dt.timedelta(hours=hours),
        )

    old_normal = open_at(0, "NORMAL")
    new_critical = open_at(5, "CRITICAL")
    high = open_at(3, "HIGH")
    new_normal = open_at(4, "NORMAL")
    old_critical = open_at(1, "CRITICAL")
    client.force_login(reviewer)

    response = client.get(reverse("admin:governance_checkpoint_changelist"))

    assert response.status_code == 200
    assert [c.pk for c in response.context["cl"].result_list] == [
        old_critical.pk,
        new_critical.pk,
        high.pk,
        old_normal.pk,
        new_normal.pk,
    ]


def test_a_reviewer_approves_a_checkpoint_from_the_queue(client, reviewer, tenant):
    checkpoint = checkpoint_open(
        tenant=tenant, checkpoint_type="custom", description="look", blocking=True
    )
    client.force_login(reviewer)
    url = reverse("admin:governance_checkpoint_transition", args=[checkpoint.pk, "approve"])

    page = client.get(reverse("admin:governance_checkpoint_change", args=[checkpoint.pk]))
    response = client.post(url, {"reason": "seen"})

    assert page.status_code == 200
    assert response.status_code == 302
    checkpoint.refresh_from_db()
    assert checkpoint.state == CheckpointState.APPROVED


def test_the_ledger_admin_is_read_only(client, reviewer, proposal):
    client.force_login(reviewer)

    listing = client.get(
        reverse("admin:governance_ledgerentry_changelist"), {"kind": "version.submitted"}
    )

    assert listing.status_code == 200
    assert client.get(reverse("admin:governance_ledgerentry_add")).status_code == 403


def test_a_ledger_entry_page_shows_its_columns_and_the_hashed_body(client, reviewer, proposal):
    entry = LedgerEntry.objects.filter(tenant=proposal.tenant).latest("seq")
    client.force_login(reviewer)

    page = client.get(reverse("admin:governance_ledgerentry_change", args=[entry.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert entry.kind in content
    assert entry.hash in content
    assert "&quot;prev_hash&quot;:&quot;" in content  # the body, as stored
    assert 'name="_save"' not in content


def test_the_checkpoint_queue_opens_on_pending_and_can_show_every_state(client, reviewer, tenant):
    pending = checkpoint_open(
        tenant=tenant, checkpoint_type="custom", description="open", blocking=True
    )
    done = checkpoint_open(tenant=tenant, checkpoint_type="custom", description="done")
    from governance.services.checkpoints import checkpoint_resolve

    checkpoint_resolve(checkpoint=done, approve=True, user=reviewer, reason="ok")
    client.force_login(reviewer)
    url = reverse("admin:governance_checkpoint_changelist")

    default = client.get(url).context["cl"].result_list
    everything = client.get(url, {"state": "all"}).context["cl"].result_list

    assert [c.pk for c in default] == [pending.pk]
    assert {c.pk for c in everything} == {pending.pk, done.pk}


def test_the_version_page_shows_a_provenance_chain_step_by_step(client, reviewer, proposal):
    ledger_append(
        tenant=proposal.tenant,
        kind="learning.provenance",
        actor=Actor.system("learning-loop"),
        subject=proposal,
        payload={
            "chain": [
                {
                    "step": "failure",
                    "id": "failure_case_7_run_1",
                    "ledger_seq": 4,
                    "sha256": "ab" * 32,
                },
                {"step": "promotion", "id": "proposal_case_7", "ledger_seq": 9},
            ]
        },
    )
    client.force_login(reviewer)

    page = client.get(change_url(proposal)).content.decode()

    assert "Provenance" in page
    assert "failure_case_7_run_1" in page
    assert "proposal_case_7" in page
    assert "Diff and decide" in page


def test_a_reviewer_who_edited_the_payload_gets_no_approve_button_and_is_refused(
    client, reviewer, proposal
):
    """Issue 13, finding 1 through the admin's FSM button: the model's approve permission
    checks every contributor, not only the author."""
    from governance.services.versions import version_submit, version_update_payload

    edited = version_update_payload(
        version=proposal, payload=scoring_payload(bias=0.2), actor=Actor.for_user(reviewer)
    )
    version_submit(version=edited, actor=Actor.for_user(reviewer))
    client.force_login(reviewer)

    html = client.get(change_url(edited)).content.decode()
    response = client.post(transition_url(edited, "approve"), {"reason": "mine"})

    assert 'value="approve"' not in html
    assert response.status_code == 403
    edited.refresh_from_db()
    assert edited.state == VersionState.PENDING_APPROVAL


def test_the_activate_form_requires_a_reason(client, reviewer, second_reviewer, proposal):
    """Issue 13, finding 7 through the admin's FSM button."""
    approved = version_approve(version=proposal, user=second_reviewer, reason="ok")
    client.force_login(reviewer)

    response = client.post(transition_url(approved, "activate"), {"reason": ""})

    assert response.status_code == 200  # the form again, with its error
    assert "This field is required" in response.content.decode()
    approved.refresh_from_db()
    assert approved.state == VersionState.APPROVED


def test_the_version_form_cannot_change_the_base_or_the_description(client, reviewer, proposal):
    client.force_login(reviewer)
    base = proposal.base_version

    client.post(change_url(proposal), {"description": "rewritten", "base_version": ""})

    proposal.refresh_from_db()
    assert proposal.base_version == base
    assert proposal.description == ""
