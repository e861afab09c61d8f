"""Finding 2 of issue 13: a checkpoint with a subject is decided only through its subject, so
the queue and the subjects never disagree (API, service and admin bulk action)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from governance.errors import Forbidden
from governance.kernel.checkpoints import DecideOnSubject
from governance.models import (
    Checkpoint,
    CheckpointState,
    CheckpointType,
    ConfigFamily,
    ConfigVersion,
    LedgerEntry,
    VersionState,
)
from governance.services.checkpoints import checkpoint_open, checkpoint_resolve
from governance.services.ledger import Actor
from governance.services.versions import version_register
from tests.factories import scoring_payload
from tests.factories.levers import RegressionPolicyFactory
from tests.factories.proofs import LearnedPolicyFactory

pytestmark = pytest.mark.django_db

QUEUE = "/api/governance/checkpoints/"


def submitted(tenant, actor, version="1.0.0"):
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(),
        actor=actor,
        submit=True,
    )


def approval_checkpoint(version) -> Checkpoint:
    return Checkpoint.objects.get(
        subject_type="governance.configversion",
        subject_id=str(version.pk),
        checkpoint_type=CheckpointType.CONFIG_APPROVAL,
    )


def states(version, checkpoint):
    version.refresh_from_db()
    checkpoint.refresh_from_db()
    return version.state, checkpoint.state


def test_approving_a_config_approval_checkpoint_approves_its_version(
    tenant, author, reviewer, api_as
):
    version = submitted(tenant, Actor.for_user(author))
    checkpoint = approval_checkpoint(version)

    response = api_as(reviewer).post(
        f"{QUEUE}{checkpoint.pk}/approve/", {"reason": "thresholds look right"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == CheckpointState.APPROVED
    assert states(version, checkpoint) == (VersionState.APPROVED, CheckpointState.APPROVED)
    approved = LedgerEntry.objects.get(kind="version.approved")
    assert approved.actor == "user:rita"
    assert approved.payload["reason"] == "thresholds look right"


def test_the_author_approving_their_versions_checkpoint_is_refused_and_both_stay_pending(
    tenant, author, api_as
):
    version = submitted(tenant, Actor.for_user(author))
    checkpoint = approval_checkpoint(version)

    response = api_as(author).post(
        f"{QUEUE}{checkpoint.pk}/approve/", {"reason": "mine, looks fine"}, format="json"
    )

    assert response.status_code == 403, response.json()
    assert states(version, checkpoint) == (
        VersionState.PENDING_APPROVAL,
        CheckpointState.PENDING,
    )
    assert not LedgerEntry.objects.filter(kind__startswith="checkpoint.approved").exists()


def test_rejecting_a_config_approval_checkpoint_rejects_its_version(
    tenant, machine_token, reviewer, api_as
):
    version = submitted(tenant, Actor(kind="token", name="machine"))
    checkpoint = approval_checkpoint(version)

    response = api_as(reviewer).post(
        f"{QUEUE}{checkpoint.pk}/reject/", {"reason": "margin too wide"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert states(version, checkpoint) == (VersionState.REJECTED, CheckpointState.REJECTED)


def test_one_approval_of_two_leaves_the_version_and_its_checkpoint_both_pending(
    tenant, author, reviewer, second_reviewer
):
    version = submitted(tenant, Actor.for_user(author))
    ConfigFamily.objects.filter(pk=version.family_id).update(approvals_required=2)
    checkpoint = approval_checkpoint(version)

    checkpoint_resolve(checkpoint=checkpoint, approve=True, user=reviewer, reason="one")
    assert states(version, checkpoint) == (
        VersionState.PENDING_APPROVAL,
        CheckpointState.PENDING,
    )

    checkpoint_resolve(checkpoint=checkpoint, approve=True, user=second_reviewer, reason="two")
    assert states(version, checkpoint) == (VersionState.APPROVED, CheckpointState.APPROVED)


def test_a_reviewer_of_another_tenant_cannot_decide_the_checkpoint(
    tenant, other_tenant, author, make_reviewer
):
    version = submitted(tenant, Actor.for_user(author))
    outsider = make_reviewer("olga", for_tenant=other_tenant)

    with pytest.raises(Forbidden, match="not a member"):
        checkpoint_resolve(
            checkpoint=approval_checkpoint(version), approve=True, user=outsider, reason="ok"
        )

    assert states(version, approval_checkpoint(version))[0] == VersionState.PENDING_APPROVAL


def test_a_decision_without_a_reason_is_refused(tenant, author, reviewer, api_as):
    version = submitted(tenant, Actor.for_user(author))

    response = api_as(reviewer).post(
        f"{QUEUE}{approval_checkpoint(version).pk}/approve/", {"reason": "  "}, format="json"
    )

    assert response.status_code == 400
    assert states(version, approval_checkpoint(version))[0] == VersionState.PENDING_APPROVAL


def test_rejecting_a_tripwire_checkpoint_is_refused_with_the_kpi_page_to_decide_on(
    tenant, reviewer, api_as
):
    policy = RegressionPolicyFactory(tenant=tenant)
    checkpoint = checkpoint_open(
        tenant=tenant,
        checkpoint_type=CheckpointType.TRIPWIRE_TRIGGERED,
        description="fired",
        subject=policy,
        blocking=True,
    )

    response = api_as(reviewer).post(
        f"{QUEUE}{checkpoint.pk}/reject/", {"reason": "not real"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "decide_on_subject"
    assert response.json()["decide_url"] == reverse("govloop-kpi", args=[policy.pk])
    checkpoint.refresh_from_db()
    assert checkpoint.state == CheckpointState.PENDING


def test_approving_a_tripwire_checkpoint_acknowledges_through_the_tripwire_service(
    tenant, reviewer
):
    policy = RegressionPolicyFactory(tenant=tenant)
    checkpoint = checkpoint_open(
        tenant=tenant,
        checkpoint_type=CheckpointType.TRIPWIRE_TRIGGERED,
        description="fired",
        subject=policy,
        blocking=True,
    )

    # The tripwire never fired, so its own service refuses: the queue did not decide alone.
    from governance.errors import TransitionConflict

    with pytest.raises(TransitionConflict, match="not triggered"):
        checkpoint_resolve(checkpoint=checkpoint, approve=True, user=reviewer, reason="seen")
    checkpoint.refresh_from_db()
    assert checkpoint.state == CheckpointState.PENDING


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "reject"])
def test_a_demotion_checkpoint_is_decided_on_the_policys_regret_page(tenant, reviewer, approve):
    policy = LearnedPolicyFactory(tenant=tenant, in_state="DEMOTED")
    checkpoint = checkpoint_open(
        tenant=tenant,
        checkpoint_type=CheckpointType.POLICY_DEMOTED,
        description="demoted",
        subject=policy,
    )

    with pytest.raises(DecideOnSubject) as refused:
        checkpoint_resolve(checkpoint=checkpoint, approve=approve, user=reviewer, reason="ok")

    assert refused.value.extra["decide_url"] == reverse("govloop-regret", args=[policy.pk])
    checkpoint.refresh_from_db()
    assert checkpoint.state == CheckpointState.PENDING


def test_a_checkpoint_type_with_no_decider_for_its_subject_is_refused(tenant, author, reviewer):
    version = submitted(tenant, Actor.for_user(author))
    aborted = checkpoint_open(
        tenant=tenant,
        checkpoint_type=CheckpointType.ROLLOUT_ABORTED,
        description="rollout aborted",
        subject=version,
    )

    with pytest.raises(DecideOnSubject):
        checkpoint_resolve(checkpoint=aborted, approve=True, user=reviewer, reason="ok")

    # Approving the abort must never approve the version it is about.
    assert states(version, aborted) == (VersionState.PENDING_APPROVAL, CheckpointState.PENDING)


def test_a_review_request_is_resolved_in_the_queue_naming_the_reviewer(tenant, reviewer):
    request = checkpoint_open(
        tenant=tenant, checkpoint_type=CheckpointType.REVIEW_REQUEST, description="look"
    )

    resolved = checkpoint_resolve(checkpoint=request, approve=True, user=reviewer, reason="seen")

    assert resolved.state == CheckpointState.APPROVED
    assert resolved.resolved_by == reviewer
    entry = LedgerEntry.objects.get(kind="checkpoint.approved")
    assert (entry.actor, entry.payload["reason"]) == ("user:rita", "seen")


def test_a_decided_checkpoint_cannot_be_decided_again(tenant, reviewer, second_reviewer):
    request = checkpoint_open(
        tenant=tenant, checkpoint_type=CheckpointType.REVIEW_REQUEST, description="look"
    )
    checkpoint_resolve(checkpoint=request, approve=True, user=reviewer, reason="seen")

    from governance.errors import TransitionConflict

    with pytest.raises(TransitionConflict) as refused:
        checkpoint_resolve(checkpoint=request, approve=False, user=second_reviewer, reason="no")
    assert refused.value.current_state == CheckpointState.APPROVED


# --- the admin's bulk action ------------------------------------------------------------------


def changelist():
    return reverse("admin:governance_checkpoint_changelist")


def bulk(client, action, checkpoints, **extra):
    return client.post(
        changelist() + "?state=all",
        {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in checkpoints], **extra},
    )


def test_the_bulk_approval_asks_for_a_reason_before_deciding_anything(
    client, tenant, author, reviewer
):
    version = submitted(tenant, Actor.for_user(author))
    client.force_login(reviewer)

    response = bulk(client, "approve_selected", [approval_checkpoint(version)])

    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert states(version, approval_checkpoint(version))[0] == VersionState.PENDING_APPROVAL
    assert not LedgerEntry.objects.filter(kind__in=["version.approved", "checkpoint.approved"])


def test_the_bulk_approval_with_a_reason_approves_the_versions_through_their_service(
    client, tenant, author, reviewer
):
    version = submitted(tenant, Actor.for_user(author))
    checkpoint = approval_checkpoint(version)
    client.force_login(reviewer)

    response = bulk(client, "approve_selected", [checkpoint], apply="1", reason="reviewed diff")

    assert response.status_code == 302
    assert states(version, checkpoint) == (VersionState.APPROVED, CheckpointState.APPROVED)
    entry = LedgerEntry.objects.get(kind="version.approved")
    assert (entry.actor, entry.payload["reason"]) == ("user:rita", "reviewed diff")


def test_the_bulk_approval_by_the_author_leaves_the_version_and_its_checkpoint_pending(
    client, tenant, author
):
    version = submitted(tenant, Actor.for_user(author))
    checkpoint = approval_checkpoint(version)
    client.force_login(author)

    bulk(client, "approve_selected", [checkpoint], apply="1", reason="mine")

    assert states(version, checkpoint) == (
        VersionState.PENDING_APPROVAL,
        CheckpointState.PENDING,
    )
    assert not ConfigVersion.objects.filter(state=VersionState.APPROVED).exists()


def test_the_bulk_action_skips_checkpoints_that_are_no_longer_pending(
    client, tenant, reviewer, second_reviewer
):
    done = checkpoint_open(
        tenant=tenant, checkpoint_type=CheckpointType.REVIEW_REQUEST, description="a"
    )
    checkpoint_resolve(checkpoint=done, approve=False, user=second_reviewer, reason="no")
    entries = LedgerEntry.objects.count()
    client.force_login(reviewer)

    response = bulk(client, "approve_selected", [done], apply="1", reason="yes")

    done.refresh_from_db()
    assert done.state == CheckpointState.REJECTED
    assert LedgerEntry.objects.count() == entries
    assert "not PENDING" in " ".join(m.message for m in response.wsgi_request._messages)


def test_approving_a_drift_alert_checkpoint_acknowledges_the_alert(tenant, reviewer):
    from tripwire.models import DriftAlert
    from tripwire.services.drift import drift_check, drift_set_baseline

    system = Actor.system("test")
    drift_set_baseline(tenant=tenant, model_name="m", metrics={"brier": 0.1}, actor=system)
    drift_check(tenant=tenant, model_name="m", current={"brier": 0.5}, actor=system)
    alert = DriftAlert.objects.get()
    checkpoint = Checkpoint.objects.get(checkpoint_type="drift_alert", subject_id=str(alert.pk))

    checkpoint_resolve(checkpoint=checkpoint, approve=True, user=reviewer, reason="retrained")

    alert.refresh_from_db()
    checkpoint.refresh_from_db()
    assert (alert.state, checkpoint.state) == ("ACKNOWLEDGED", CheckpointState.APPROVED)
    assert LedgerEntry.objects.get(kind="drift.alert_acknowledged").actor == "user:rita"
