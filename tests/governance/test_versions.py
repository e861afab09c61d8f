import json
import threading

import pytest
from django.db import connections

from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.models import (
    Checkpoint,
    CheckpointState,
    ConfigFamily,
    ConfigVersion,
    LedgerEntry,
    RollbackReport,
    VersionState,
)
from governance.selectors import active_version, ledger_for_subject
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from governance.services.versions import (
    next_version,
    version_activate,
    version_approve,
    version_deprecate,
    version_rebase,
    version_register,
    version_reject,
    version_rollback,
    version_rollback_family,
    version_submit,
    version_update_payload,
)
from tests.factories import TenantFactory, UserFactory, scoring_payload

pytestmark = pytest.mark.django_db


ACTIVE = object()  # register(base=ACTIVE): based on the family's active version, if any


@pytest.fixture
def register(tenant, author):
    def make(
        version="1.0.0",
        *,
        submit=True,
        payload=None,
        changes=None,
        for_tenant=None,
        base=ACTIVE,
        actor=None,
    ):
        on = for_tenant or tenant
        if base is ACTIVE:
            base = active_version(tenant_id=on.pk, family="scoring")
        return version_register(
            tenant=on,
            family="scoring",
            version=version,
            payload=payload or scoring_payload(),
            changes=changes,
            base_version=base,
            actor=actor or Actor.for_user(author),
            submit=submit,
        )

    return make


@pytest.fixture
def approved(register, reviewer):
    def make(version="1.0.0", **kwargs):
        return version_approve(version=register(version, **kwargs), user=reviewer, reason="ok")

    return make


@pytest.fixture
def active(approved, reviewer):
    def make(version="1.0.0", **kwargs):
        return version_activate(
            version=approved(version, **kwargs),
            user=reviewer,
            acknowledge_breaking=True,
            reason="go",
        )

    return make


def history_kinds(version):
    return [e.kind for e in ledger_for_subject(subject=version)]


def test_registering_validates_the_payload_field_by_field_and_stores_nothing(tenant, author):
    bad = scoring_payload(thresholds=[0.7, 0.4], bands=["LOW", "HIGH"])

    with pytest.raises(ValidationFailed) as caught:
        version_register(
            tenant=tenant,
            family="scoring",
            version="1.0",
            payload=bad,
            actor=Actor.for_user(author),
        )

    assert set(caught.value.errors) == {"version", "payload.thresholds"}
    assert not ConfigVersion.objects.exists()
    assert not ConfigFamily.objects.filter(tenant=tenant).exists()
    assert not LedgerEntry.objects.filter(tenant=tenant).exists()


def test_submitting_opens_a_blocking_config_approval_checkpoint(register):
    version = register()

    checkpoint = Checkpoint.objects.get(subject_id=str(version.pk))
    assert version.state == VersionState.PENDING_APPROVAL
    assert checkpoint.checkpoint_type == "config_approval"
    assert checkpoint.blocking
    assert checkpoint.state == CheckpointState.PENDING


def test_the_author_cannot_approve_their_own_version(register, author):
    version = register()

    with pytest.raises(Forbidden, match="four eyes"):
        version_approve(version=version, user=author, reason="looks fine to me")

    version.refresh_from_db()
    assert version.state == VersionState.PENDING_APPROVAL
    assert not version.approvals.exists()


def test_approval_needs_a_reason(register, reviewer):
    with pytest.raises(ValidationFailed) as caught:
        version_approve(version=register(), user=reviewer, reason="  ")

    assert "reason" in caught.value.errors


def test_a_viewer_cannot_approve(register, viewer):
    with pytest.raises(Forbidden):
        version_approve(version=register(), user=viewer, reason="ok")


def test_approving_resolves_the_versions_checkpoint(register, reviewer):
    version = version_approve(version=register(), user=reviewer, reason="numbers check out")

    checkpoint = Checkpoint.objects.get(subject_id=str(version.pk))
    assert version.state == VersionState.APPROVED
    assert checkpoint.state == CheckpointState.APPROVED
    assert checkpoint.resolution_reason == "numbers check out"


def test_with_two_approvals_required_one_leaves_it_pending_and_a_second_reviewer_approves(
    tenant, register, reviewer, second_reviewer
):
    version = register(submit=False)
    ConfigFamily.objects.filter(pk=version.family_id).update(approvals_required=2)
    version = version_submit(version=version, actor=Actor.system("test"))

    version = version_approve(version=version, user=reviewer, reason="first look")
    assert version.state == VersionState.PENDING_APPROVAL
    with pytest.raises(Forbidden, match="already approved"):
        version_approve(version=version, user=reviewer, reason="again")

    version = version_approve(version=version, user=second_reviewer, reason="second look")
    assert version.state == VersionState.APPROVED
    assert version.approvals.filter(voided_at__isnull=True).count() == 2


def test_editing_a_pending_payload_voids_its_approvals_and_returns_it_to_draft(
    register, reviewer, author
):
    version = register(submit=False)
    ConfigFamily.objects.filter(pk=version.family_id).update(approvals_required=2)
    version = version_submit(version=version, actor=Actor.for_user(author))
    version_approve(version=version, user=reviewer, reason="first look")

    version = version_update_payload(
        version=version,
        payload=scoring_payload(thresholds=[0.3, 0.8]),
        actor=Actor.for_user(author),
    )

    assert version.state == VersionState.DRAFT
    assert version.payload["thresholds"] == [0.3, 0.8]
    assert version.approvals.filter(voided_at__isnull=True).count() == 0
    assert version.approvals.filter(voided_at__isnull=False).count() == 1
    assert Checkpoint.objects.get(subject_id=str(version.pk)).state == CheckpointState.REJECTED


def test_a_voided_approval_does_not_count_after_resubmission(register, reviewer, author):
    version = register(submit=False)
    ConfigFamily.objects.filter(pk=version.family_id).update(approvals_required=2)
    version = version_submit(version=version, actor=Actor.for_user(author))
    version_approve(version=version, user=reviewer, reason="first look")
    version = version_update_payload(
        version=version, payload=scoring_payload(bias=0.1), actor=Actor.for_user(author)
    )
    version = version_submit(version=version, actor=Actor.for_user(author))

    version = version_approve(version=version, user=reviewer, reason="looked again")

    assert version.state == VersionState.PENDING_APPROVAL


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(VersionState.APPROVED, id="approved"),
        pytest.param(VersionState.ACTIVE, id="active"),
        pytest.param(VersionState.REJECTED, id="rejected"),
    ],
)
def test_a_decided_payload_cannot_be_edited(tenant, author, state):
    from tests.factories import ConfigVersionFactory

    version = ConfigVersionFactory(tenant=tenant, state=state)

    with pytest.raises(TransitionConflict) as caught:
        version_update_payload(version=version, payload=scoring_payload(), actor=Actor.system("t"))

    assert caught.value.current_state == state


def test_activating_supersedes_the_previous_version(active, approved, reviewer):
    v1 = active("1.0.0")
    v2 = version_activate(version=approved("1.1.0"), user=reviewer, reason="go")

    v1.refresh_from_db()
    assert v2.state == VersionState.ACTIVE
    assert v1.state == VersionState.SUPERSEDED
    assert ConfigVersion.objects.filter(state=VersionState.ACTIVE).count() == 1


def test_activating_a_breaking_version_needs_an_acknowledgement(active, approved, reviewer):
    active("1.0.0")
    breaking = approved("2.0.0", changes=[{"description": "new band", "impact": "breaking"}])

    with pytest.raises(ValidationFailed) as caught:
        version_activate(version=breaking, user=reviewer, reason="go")
    breaking.refresh_from_db()
    assert "acknowledge_breaking" in caught.value.errors
    assert breaking.state == VersionState.APPROVED

    version_activate(version=breaking, user=reviewer, acknowledge_breaking=True, reason="go")
    breaking.refresh_from_db()
    assert breaking.state == VersionState.ACTIVE


def test_a_schema_incompatible_payload_needs_an_acknowledgement(active, approved, reviewer):
    active("1.0.0")
    payload = scoring_payload()
    del payload["flag_rules"]
    del payload["escalate_on"]
    incompatible = approved("1.1.0", payload=payload)

    with pytest.raises(ValidationFailed) as caught:
        version_activate(version=incompatible, user=reviewer, reason="go")

    assert any("flag_rules removed" in m for m in caught.value.errors["acknowledge_breaking"])


@pytest.mark.parametrize(
    "target_state",
    [
        pytest.param(VersionState.DRAFT, id="draft"),
        pytest.param(VersionState.PENDING_APPROVAL, id="pending"),
        pytest.param(VersionState.REJECTED, id="rejected"),
        pytest.param(VersionState.APPROVED, id="approved-never-active"),
    ],
)
def test_rollback_to_a_version_that_was_never_approved_or_active_is_refused(
    tenant, active, reviewer, target_state
):
    from tests.factories import ConfigVersionFactory

    current = active("1.0.0")
    target = ConfigVersionFactory(
        tenant=tenant, family=current.family, version="0.9.0", state=target_state
    )

    with pytest.raises(TransitionConflict) as caught:
        version_rollback(version=target, user=reviewer, reason="go back")

    assert caught.value.current_state == target_state
    current.refresh_from_db()
    assert current.state == VersionState.ACTIVE


def test_rollback_to_a_superseded_never_approved_row_is_refused(tenant, active, reviewer):
    """Even a SUPERSEDED row (e.g. imported) is refused unless it was approved."""
    from tests.factories import ConfigVersionFactory

    current = active("1.0.0")
    forged = ConfigVersionFactory(
        tenant=tenant, family=current.family, version="0.9.0", state=VersionState.SUPERSEDED
    )

    with pytest.raises(TransitionConflict, match="cannot roll back"):
        version_rollback(version=forged, user=reviewer, reason="go back")


def test_rollback_reactivates_a_previously_approved_version(active, approved, reviewer):
    v1 = active("1.0.0")
    v2 = version_activate(version=approved("1.1.0"), user=reviewer, reason="go")

    v1 = version_rollback(version=v1, user=reviewer, reason="regression")

    v2.refresh_from_db()
    assert v1.state == VersionState.ACTIVE
    assert v2.state == VersionState.SUPERSEDED


def test_the_automatic_family_rollback_picks_the_last_approved_version(active, approved, reviewer):
    v1 = active("1.0.0")
    version_activate(version=approved("1.1.0"), user=reviewer, reason="go")

    target = version_rollback_family(
        tenant=v1.tenant, family="scoring", actor=Actor.system("tripwire"), reason="kpi drop"
    )

    assert target.pk == v1.pk
    assert target.state == VersionState.ACTIVE
    assert ledger_for_subject(subject=target).last().actor == "system:tripwire"


def test_every_transition_leaves_exactly_one_ledger_entry_on_the_version(tenant, author, reviewer):
    actor = Actor.for_user(author)
    v1 = version_register(
        tenant=tenant, family="scoring", version="1.0.0", payload=scoring_payload(), actor=actor
    )
    steps = [
        ("version.submitted", lambda v: version_submit(version=v, actor=actor)),
        ("version.approved", lambda v: version_approve(version=v, user=reviewer, reason="ok")),
        ("version.activated", lambda v: version_activate(version=v, user=reviewer, reason="go")),
        ("version.deprecated", lambda v: version_deprecate(version=v, user=reviewer, reason="old")),
        ("version.rolled_back", lambda v: version_rollback(version=v, user=reviewer, reason="b")),
    ]
    assert history_kinds(v1) == ["version.registered"]
    for kind, step in steps:
        before = len(history_kinds(v1))
        v1 = step(v1)
        kinds = history_kinds(v1)
        assert len(kinds) == before + 1
        assert kinds[-1] == kind

    v2 = version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=scoring_payload(),
        base_version=v1,
        actor=actor,
        submit=True,
    )
    version_approve(version=v2, user=reviewer, reason="ok")
    before = len(history_kinds(v1))
    version_activate(version=v2, user=reviewer, reason="go")
    assert history_kinds(v1)[before:] == ["version.superseded"]

    v3 = version_register(
        tenant=tenant,
        family="scoring",
        version="1.2.0",
        payload=scoring_payload(),
        actor=actor,
        submit=True,
    )
    version_reject(version=v3, user=reviewer, reason="no")
    assert history_kinds(v3) == ["version.registered", "version.submitted", "version.rejected"]
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


def test_rejection_needs_a_reason(register, reviewer):
    with pytest.raises(ValidationFailed):
        version_reject(version=register(), user=reviewer, reason="")


@pytest.mark.parametrize(
    ("value", "part", "expected"),
    [
        pytest.param("1.2.3", "minor", "1.3.0", id="minor"),
        pytest.param("1.2.3", "major", "2.0.0", id="major"),
        pytest.param("1.2.3", "patch", "1.2.4", id="patch"),
    ],
)
def test_next_version_bumps_semver(value, part, expected):
    assert next_version(value, part) == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_activations_of_one_family_leave_exactly_one_active_and_refuse_the_stale():
    """Both proposals are based on v1.0.0: the family lock lets one activate, and the other then
    sees v1.0.0 superseded, so its base is stale and it is refused instead of undoing the first."""
    tenant = TenantFactory(slug="race")
    author = UserFactory(username="race-author")
    reviewer = UserFactory(username="race-reviewer", is_superuser=True)
    actor = Actor.for_user(author)
    versions = []
    for number in ("1.0.0", "1.1.0", "1.2.0"):
        version = version_register(
            tenant=tenant,
            family="scoring",
            version=number,
            payload=scoring_payload(),
            base_version=versions[0] if versions else None,
            actor=actor,
            submit=True,
        )
        versions.append(version_approve(version=version, user=reviewer, reason="ok"))
    version_activate(version=versions[0], user=reviewer, reason="go")
    barrier = threading.Barrier(2)
    outcomes = []

    def activate(version):
        try:
            barrier.wait()
            version_activate(version=version, user=reviewer, reason="go")
            outcomes.append("ok")
        except TransitionConflict as exc:
            outcomes.append(exc.as_dict()["code"])
        except Exception as exc:  # reported by the assertion below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["ok", "stale_base"]
    states = dict(ConfigVersion.objects.filter(tenant=tenant).values_list("version", "state"))
    assert list(states.values()).count(VersionState.ACTIVE) == 1
    assert states["1.0.0"] == VersionState.SUPERSEDED
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


# Issue 13: decisions that cannot be bypassed (the config version side)


def test_contributors_record_who_registered_edited_and_submitted(register, reviewer):
    machine = Actor.system("calibration")
    version = register("9.1.0", actor=machine)
    version = version_update_payload(
        version=version, payload=scoring_payload(bias=0.2), actor=Actor.for_user(reviewer)
    )
    version = version_submit(version=version, actor=Actor.system("loop"))

    assert version.contributors == ["system:calibration", "user:rita", "system:loop"]


def test_a_reviewer_who_edited_a_machine_proposal_cannot_approve_it(register, reviewer):
    """Finding 1 (service): edit-payload made the editor an invisible co-author."""
    version = register("9.1.0", actor=Actor.system("calibration"))
    version = version_update_payload(
        version=version,
        payload=scoring_payload(thresholds=[0.2, 0.9]),
        actor=Actor.for_user(reviewer),
    )
    version = version_submit(version=version, actor=Actor.for_user(reviewer))

    with pytest.raises(Forbidden, match="four eyes"):
        version_approve(version=version, user=reviewer, reason="my own numbers")

    version.refresh_from_db()
    assert version.state == VersionState.PENDING_APPROVAL


def test_a_submitter_cannot_approve_what_they_submitted(register, reviewer, second_reviewer):
    version = register(submit=False, actor=Actor.system("calibration"))
    version = version_submit(version=version, actor=Actor.for_user(reviewer))

    with pytest.raises(Forbidden, match="four eyes"):
        version_approve(version=version, user=reviewer, reason="ok")
    assert version_approve(version=version, user=second_reviewer, reason="ok").state == (
        VersionState.APPROVED
    )


def test_the_models_approve_permission_refuses_contributors(register, reviewer, second_reviewer):
    """The admin's FSM button asks the model: a contributor gets no Approve button."""
    from django_fsm import has_transition_perm

    version = register(actor=Actor.system("calibration"))
    version = version_update_payload(
        version=version, payload=scoring_payload(bias=0.3), actor=Actor.for_user(reviewer)
    )
    version = version_submit(version=version, actor=Actor.system("calibration"))

    assert not has_transition_perm(version.approve, reviewer)
    assert has_transition_perm(version.approve, second_reviewer)


def test_activation_needs_a_reason_and_the_ledger_carries_it(approved, reviewer):
    """Finding 7."""
    version = approved()

    with pytest.raises(ValidationFailed) as caught:
        version_activate(version=version, user=reviewer, reason=" ")
    assert "reason" in caught.value.errors
    version.refresh_from_db()
    assert version.state == VersionState.APPROVED

    version_activate(version=version, user=reviewer, reason="numbers checked")
    entry = ledger_for_subject(subject=version).last()
    assert (entry.kind, entry.payload["reason"]) == ("version.activated", "numbers checked")


@pytest.fixture
def finding_3(active, register, approved, reviewer):
    """v1.0.0 active; v1.1.0 drafted on it (thresholds[0] 0.40 -> 0.42); v1.2.0, also on
    v1.0.0, changed thresholds[0] to 0.44 and confidence_margin to 0.05 and went active."""
    v1 = active("1.0.0")
    stale = register("1.1.0", payload=scoring_payload(thresholds=[0.42, 0.7]))
    v12 = active("1.2.0", payload=scoring_payload(thresholds=[0.44, 0.7], confidence_margin=0.05))
    stale = version_approve(version=stale, user=reviewer, reason="ok")
    return v1, stale, v12


def test_a_stale_proposal_is_refused_with_stale_base_and_a_three_way_diff(finding_3, reviewer):
    """Finding 3: activating v1.1.0 silently reverted v1.2.0's margin change."""
    _, stale, v12 = finding_3

    with pytest.raises(TransitionConflict) as caught:
        version_activate(version=stale, user=reviewer, reason="go")

    body = caught.value.as_dict()
    assert body["code"] == "stale_base"
    assert body["diff"]["both_touched"] == ["thresholds[0]"]
    assert [c["path"] for c in body["diff"]["base_to_proposal"]] == ["thresholds[0]"]
    v12.refresh_from_db()
    assert v12.state == VersionState.ACTIVE
    assert v12.payload["confidence_margin"] == 0.05


def test_a_version_with_no_base_is_stale_while_another_is_active(active, register, reviewer):
    active("1.0.0")
    orphan = version_approve(
        version=register("1.1.0", base=None, payload=scoring_payload(bias=0.2)),
        user=reviewer,
        reason="ok",
    )

    with pytest.raises(TransitionConflict) as caught:
        version_activate(version=orphan, user=reviewer, reason="go")

    assert caught.value.as_dict()["code"] == "stale_base"
    assert caught.value.as_dict()["diff"]["base"] is None


def test_a_lower_version_number_activates_only_as_a_rollback(active, register, reviewer):
    active("1.2.0")
    lower = version_approve(version=register("1.1.5"), user=reviewer, reason="ok")

    with pytest.raises(TransitionConflict) as caught:
        version_activate(version=lower, user=reviewer, reason="go")

    assert caught.value.as_dict()["code"] == "version_downgrade"


def test_rebase_replays_the_proposals_changes_onto_the_active_version_as_a_new_draft(
    finding_3, reviewer, second_reviewer, author
):
    _, stale, v12 = finding_3

    rebased = version_rebase(version=stale, user=reviewer, reason="carry the boundary forward")

    assert (rebased.version, rebased.state) == ("1.3.0", VersionState.DRAFT)
    assert rebased.base_version == v12
    assert rebased.source == stale.source
    # The proposal's change on top of the active payload: v1.2.0's margin survives.
    assert rebased.payload == scoring_payload(thresholds=[0.42, 0.7], confidence_margin=0.05)
    assert rebased.contributors == ["user:alex", "user:rita"]
    assert history_kinds(rebased) == ["version.rebased"]
    assert history_kinds(stale)[-1] == "version.rebased"
    stale.refresh_from_db()
    assert stale.state == VersionState.APPROVED

    rebased = version_submit(version=rebased, actor=Actor.for_user(reviewer))
    with pytest.raises(Forbidden, match="four eyes"):
        version_approve(version=rebased, user=reviewer, reason="ok")
    with pytest.raises(Forbidden, match="four eyes"):
        version_approve(version=rebased, user=author, reason="ok")
    rebased = version_approve(version=rebased, user=second_reviewer, reason="ok")
    rebased = version_activate(version=rebased, user=second_reviewer, reason="go")
    assert rebased.state == VersionState.ACTIVE
    ledger_anchor_head(tenant_id=rebased.tenant_id)
    assert ledger_verify(tenant_id=rebased.tenant_id).ok


def test_rebase_is_refused_for_a_current_version_a_machine_or_without_a_reason(
    active, register, reviewer
):
    active("1.0.0")
    current = register("1.1.0")

    with pytest.raises(TransitionConflict) as caught:
        version_rebase(version=current, user=reviewer, reason="why not")
    assert caught.value.as_dict()["code"] == "not_stale"
    with pytest.raises(Forbidden):
        version_rebase(version=current, user=None, reason="machine")
    with pytest.raises(ValidationFailed):
        version_rebase(version=current, user=reviewer, reason="")


def test_a_reviewers_rollback_writes_a_report_in_the_same_transaction(
    active, reviewer, settings, tmp_path, django_capture_on_commit_callbacks
):
    """Finding 10: a rollback was only a ledger entry."""
    settings.GOVLOOP_ARTIFACT_DIR = tmp_path
    v1 = active("1.0.0")
    v2 = active("1.1.0", payload=scoring_payload(bias=0.1))
    v1.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        version_rollback(version=v1, user=reviewer, reason="approval rate fell")

    report = RollbackReport.objects.get()
    assert (report.rolled_back_from, report.rolled_back_to) == (v2, v1)
    assert (report.actor, report.reason, report.automatic) == (
        "user:rita",
        "approval rate fell",
        False,
    )
    assert report.diff["changes"] == [{"path": "bias", "op": "changed", "old": 0.1, "new": 0.0}]
    rollback_entry = ledger_for_subject(subject=v1).last()
    assert (rollback_entry.kind, rollback_entry.seq) == ("version.rolled_back", report.ledger_seq)
    assert set(report.checkpoint_ids) == set(
        Checkpoint.objects.filter(subject_id__in=[str(v1.pk), str(v2.pk)]).values_list(
            "pk", flat=True
        )
    )
    [exported] = (tmp_path / v1.tenant.slug).glob("rollback_report_scoring_*.json")
    document = json.loads(exported.read_text())
    assert (document["rolled_back_from"], document["rolled_back_to"]) == ("1.1.0", "1.0.0")


def test_the_automatic_family_rollback_writes_an_automatic_report(active, reviewer):
    v1 = active("1.0.0")
    active("1.1.0")

    version_rollback_family(
        tenant=v1.tenant, family="scoring", actor=Actor.system("tripwire"), reason="kpi drop"
    )

    report = RollbackReport.objects.get()
    assert (report.rolled_back_to_id, report.actor, report.automatic) == (
        v1.pk,
        "system:tripwire",
        True,
    )


def test_a_failed_rollback_writes_no_report(tenant, active, reviewer):
    from tests.factories import ConfigVersionFactory

    current = active("1.0.0")
    forged = ConfigVersionFactory(
        tenant=tenant, family=current.family, version="0.9.0", state=VersionState.SUPERSEDED
    )

    with pytest.raises(TransitionConflict):
        version_rollback(version=forged, user=reviewer, reason="go back")

    assert not RollbackReport.objects.exists()


def test_a_submitted_payload_is_frozen_an_edit_sends_it_back_to_draft(register, author):
    version = register()

    version = version_update_payload(
        version=version, payload=scoring_payload(bias=0.05), actor=Actor.for_user(author)
    )

    assert version.state == VersionState.DRAFT
    assert history_kinds(version)[-1] == "version.payload_edited"
