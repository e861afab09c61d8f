"""Service rules of the loop beyond the seed's example: which failures are analysed, the
strict re-check at promotion, a stale base version, and concurrent sandboxing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from governance.errors import TransitionConflict, ValidationFailed
from governance.models import ConfigVersion, VersionState
from governance.services.ledger import Actor
from learning.models import BacktestCase, FailureAnalysis, LoopProposal, ProposalState, SandboxRun
from learning.services import loop as services
from tests.factories.loop import (
    BacktestCaseFactory,
    activate_version,
    term_emergence_cases,
    term_payload,
)

NOW = dt.datetime(2025, 12, 26, 13, 0, tzinfo=dt.UTC)
ACTOR = Actor.system("learning_loop")


def _eligible_proposal(tenant) -> LoopProposal:
    services.learning_loop_run(tenant=tenant, actor=ACTOR, now=NOW)
    return LoopProposal.objects.get(tenant=tenant, state=ProposalState.ELIGIBLE)


@pytest.mark.django_db
def test_only_misses_and_abstains_at_the_minimum_confidence_are_analysed(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(min_confidence=0.9), reviewer=reviewer)
    # 0.47 is 0.07 from a threshold: confidence 0.7 (HIGH) < 0.9 -> a high-confidence ABSTAIN;
    # 0.42 is 0.02 away: confidence 0.2 (LOW) -> a low-confidence ABSTAIN.
    BacktestCaseFactory(
        tenant=tenant,
        case_id="high_abstain",
        features={"risk_signal": 0.47, "velocity": 0.47},
        expected_decision="MEDIUM",
    )
    BacktestCaseFactory(
        tenant=tenant,
        case_id="low_abstain",
        features={"risk_signal": 0.42, "velocity": 0.42},
        expected_decision="MEDIUM",
    )
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    assert run.abstain_count == 2

    analysed = services.failures_analyze(run=run, actor=ACTOR, now=NOW)
    assert [f.case.case_id for f in analysed] == ["high_abstain"]
    assert analysed[0].hypothesis == "min_confidence_too_strict"

    more = services.failures_analyze(run=run, actor=ACTOR, min_confidence="LOW", now=NOW)
    assert [f.case.case_id for f in more] == ["low_abstain"]
    assert services.failures_analyze(run=run, actor=ACTOR, min_confidence="LOW", now=NOW) == []


@pytest.mark.django_db
def test_strict_promotion_refuses_when_the_cases_changed_since_the_sandbox(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    proposal = _eligible_proposal(tenant)
    case = BacktestCase.objects.get(tenant=tenant, case_id="case_term_emergence_002")
    services.backtest_case_update(
        case=case,
        data={"features": {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 3}},
        actor=ACTOR,
    )

    with pytest.raises(ValidationFailed) as refused:
        services.proposal_promote(proposal=proposal, actor=ACTOR, now=NOW)

    assert any("changed since the sandbox" in line for line in refused.value.errors["strict"])
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.ELIGIBLE
    assert not ConfigVersion.objects.filter(source="learning_loop").exists()


@pytest.mark.django_db
def test_promotion_refuses_a_proposal_whose_base_is_no_longer_active(tenant, reviewer, author):
    base = activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    proposal = _eligible_proposal(tenant)
    activate_version(
        tenant=tenant, payload=term_payload(bias=0.01), reviewer=reviewer, version="2.0.0"
    )

    with pytest.raises(ValidationFailed) as refused:
        services.proposal_promote(proposal=proposal, actor=ACTOR, now=NOW)

    assert "base_version" in refused.value.errors
    base.refresh_from_db()
    assert base.state == VersionState.SUPERSEDED


@pytest.mark.django_db
def test_a_second_promotion_from_the_same_base_takes_the_next_free_version(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    BacktestCaseFactory(
        tenant=tenant,
        case_id="case_term_emergence_007",
        features={"risk_signal": 0.9, "velocity": 0.9, "term_seen": 1},
        expected_decision="HIGH",
        expected_flags=["term_emergence"],
    )
    summary = services.learning_loop_run(tenant=tenant, actor=ACTOR, auto_promote=True, now=NOW)

    assert sorted(summary.promoted.values()) == ["1.1.0", "1.2.0"]
    assert set(
        ConfigVersion.objects.filter(source="learning_loop").values_list("state", flat=True)
    ) == {VersionState.PENDING_APPROVAL}
    assert ConfigVersion.objects.get(tenant=tenant, state=VersionState.ACTIVE).version == "1.0.0"


@pytest.mark.django_db
def test_sandboxing_a_promoted_proposal_is_a_conflict(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    proposal = _eligible_proposal(tenant)
    services.proposal_promote(proposal=proposal, actor=ACTOR, now=NOW)
    with pytest.raises(TransitionConflict) as refused:
        services.proposal_sandbox(proposal=proposal, actor=ACTOR, now=NOW)
    assert refused.value.current_state == ProposalState.PROMOTED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sandbox_runs_of_one_proposal_produce_one_report(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    failures = services.failures_analyze(run=run, actor=ACTOR, now=NOW)
    (proposal,), _ = services.proposals_generate(failures=failures, actor=ACTOR, now=NOW)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt():
        try:
            barrier.wait()
            services.proposal_sandbox(
                proposal=LoopProposal.objects.get(pk=proposal.pk), actor=ACTOR
            )
            outcomes.append("ok")
        except TransitionConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["conflict", "ok"]
    assert SandboxRun.objects.filter(proposal=proposal).count() == 1
    assert FailureAnalysis.objects.filter(tenant=tenant).count() == 2


TERM_CASE = "case_term_emergence_001"


def _failure_of(failures, proposal: LoopProposal) -> FailureAnalysis:
    """The failure, among ``failures``, of the case ``proposal`` fixes."""
    (failure,) = [f for f in failures if f.case_id == proposal.failure.case_id]
    return failure


def _proposals_per_case(tenant) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case_id in LoopProposal.objects.filter(tenant=tenant).values_list(
        "failure__case__case_id", flat=True
    ):
        counts[case_id] = counts.get(case_id, 0) + 1
    return counts


@pytest.mark.django_db
def test_the_nightly_loop_and_a_manual_run_leave_one_proposal_per_failing_case(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    services.learning_loop_nightly(now=NOW)  # nothing to reuse yet: backtests once

    manual = services.learning_loop_run(tenant=tenant, actor=ACTOR, now=NOW)  # a new run

    runs = services.BacktestRun.objects.filter(tenant=tenant)
    assert runs.count() == 2
    assert FailureAnalysis.objects.filter(tenant=tenant, case__case_id=TERM_CASE).count() == 2
    assert set(_proposals_per_case(tenant).values()) == {1}
    assert LoopProposal.objects.filter(tenant=tenant, state=ProposalState.ELIGIBLE).count() == 1
    assert manual.proposals == [LoopProposal.objects.get(tenant=tenant).proposal_id]


@pytest.mark.django_db
def test_a_manual_proposal_for_a_case_already_proposed_under_the_version_returns_that_one(
    tenant, reviewer
):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    first = _eligible_proposal(tenant)
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    failure = _failure_of(services.failures_analyze(run=run, actor=ACTOR, now=NOW), first)

    assert services.proposal_generate(failure=failure, actor=ACTOR, now=NOW) == first
    assert LoopProposal.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_second_proposal_for_a_case_under_one_base_version(tenant, reviewer):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    first = _eligible_proposal(tenant)
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    failure = _failure_of(services.failures_analyze(run=run, actor=ACTOR, now=NOW), first)

    with pytest.raises(IntegrityError), transaction.atomic():
        LoopProposal.objects.create(
            tenant=tenant,
            proposal_id="proposal_written_by_hand",
            failure=failure,
            case=failure.case,
            kind=first.kind,
            base_version=first.base_version,
            change=first.change,
            proposed_payload=first.proposed_payload,
            document=first.document,
            document_sha256=first.document_sha256,
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_nightly_loop_racing_a_manual_run_leaves_one_proposal_per_failing_case(
    tenant, reviewer
):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)  # the nightly reuses it
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(loop):
        try:
            barrier.wait()
            loop()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: services.learning_loop_nightly(now=NOW),)),
        threading.Thread(
            target=run,
            args=(lambda: services.learning_loop_run(tenant=tenant, actor=ACTOR, now=NOW),),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(_proposals_per_case(tenant).values()) == {1}
    assert LoopProposal.objects.filter(tenant=tenant, state=ProposalState.ELIGIBLE).count() == 1


# Migrating inside the test's transaction needs PostgreSQL's transactional DDL (SQLite's
# schema editor refuses to run within an atomic block).
@pytest.mark.postgres
@pytest.mark.django_db
def test_the_migration_keys_the_first_proposal_of_a_pair_and_leaves_older_duplicates_unkeyed(
    tenant, reviewer
):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("learning.migrations.0011_loop_proposal_one_per_case")
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    first = _eligible_proposal(tenant)
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    failure = _failure_of(services.failures_analyze(run=run, actor=ACTOR, now=NOW), first)
    # What two racing runs left before the constraint: two proposals, neither keyed yet.
    LoopProposal.objects.filter(pk=first.pk).update(case=None)
    duplicate = LoopProposal.objects.create(
        tenant=tenant,
        proposal_id="proposal_duplicate",
        failure=failure,
        kind=first.kind,
        base_version=first.base_version,
        change=first.change,
        proposed_payload=first.proposed_payload,
        document=first.document,
        document_sha256=first.document_sha256,
        created_at=first.created_at + dt.timedelta(minutes=1),
    )

    with connection.schema_editor() as editor:
        migration.key_existing_proposals(apps, editor)

    first.refresh_from_db()
    duplicate.refresh_from_db()
    assert first.case_id == first.failure.case_id
    assert duplicate.case_id is None
