"""The active learning loop end to end (seed 002): the seed's example, the regression
refusal, and byte-identical reruns."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from governance.models import Checkpoint, CheckpointState, ConfigVersion, LedgerEntry, VersionState
from governance.selectors import active_config, active_version, ledger_for_subject
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from learning.models import (
    BacktestStatus,
    FailureAnalysis,
    FailureState,
    ProposalState,
)
from learning.services import loop as services
from tests.factories import TenantFactory
from tests.factories.loop import (
    BacktestCaseFactory,
    activate_version,
    term_emergence_cases,
    term_payload,
)

NOW = dt.datetime(2025, 12, 26, 13, 0, tzinfo=dt.UTC)
ACTOR = Actor.system("learning_loop")

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(tenant, reviewer):
    version = activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer, now=NOW)
    term_emergence_cases(tenant)
    return version


def _analyze_and_propose(tenant, output_dir):
    run = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    failures = services.failures_analyze(run=run, actor=ACTOR, output_dir=output_dir, now=NOW)
    proposals, unresolvable = services.proposals_generate(
        failures=failures, actor=ACTOR, output_dir=output_dir, now=NOW
    )
    return run, failures, proposals, unresolvable


def test_the_seed_example_goes_from_miss_to_a_pending_approval_version(
    tenant, seeded, tmp_path, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run, _failures, proposals, unresolvable = _analyze_and_propose(tenant, tmp_path)

    assert (run.case_count, run.hit_count, run.miss_count) == (6, 4, 2)
    failure = FailureAnalysis.objects.get(failure_id="failure_case_term_emergence_001_run_000001")
    assert failure.artifact["backtest_result"]["status"] == BacktestStatus.MISS
    assert failure.hypothesis == "flag_rule_too_strict"
    assert failure.artifact["unmet_expectations"][0] == {
        "kind": "flag",
        "flag": "term_emergence",
        "feature": "term_seen",
        "operator": ">=",
        "expected_value": 2.0,
        "actual_value": 1.0,
    }
    assert {
        "element": "flag_rules[0].value",
        "kind": "flag_rule",
        "value": 2.0,
        "observed": 1.0,
        "margin": -1.0,
    } in failure.artifact["decided_by"]
    assert (tmp_path / "reports" / f"{failure.failure_id}.json").exists()
    assert "flag_rule_too_strict" in (tmp_path / "reports" / f"{failure.failure_id}.md").read_text()
    assert unresolvable == ["failure_case_band_001_run_000001"]

    (proposal,) = proposals
    assert proposal.failure == failure
    assert proposal.kind == "flag_rule_adjustment"
    assert proposal.change == {"path": "flag_rules[0].value", "old": 2, "new": 1}
    assert proposal.document["expected_delta"]["improved_cases"] == ["case_term_emergence_001"]
    assert proposal.document["expected_delta"]["backtest_pass_rate_delta"] == pytest.approx(
        1 / 6, abs=1e-6
    )
    assert proposal.document["validation_plan"]["stabilization_runs"] == 3

    with django_capture_on_commit_callbacks(execute=True):
        sandbox = services.proposal_sandbox(
            proposal=proposal, actor=ACTOR, output_dir=tmp_path, now=NOW
        )
    report = sandbox.report
    assert report["baseline"]["backtest_pass_rate"] == pytest.approx(0.666667)
    assert report["proposal"]["backtest_pass_rate"] == pytest.approx(0.833333)
    assert report["delta"]["pass_rate_delta"] == pytest.approx(0.166667)
    assert report["delta"]["regression_count"] == 0
    assert report["stabilization"]["runs"] == 3
    assert len(set(report["stabilization"]["result_hashes"])) == 1
    assert all(line["passed"] for line in report["gate"]["criteria"])
    assert report["promotion_eligible"] is True
    assert (
        tmp_path
        / "proposals"
        / proposal.proposal_id
        / f"sandbox_report_{sandbox.sandbox_run_id}.json"
    ).exists()
    proposal.refresh_from_db()
    assert proposal.state == ProposalState.ELIGIBLE

    version = services.proposal_promote(proposal=proposal, actor=ACTOR, now=NOW)

    assert version.state == VersionState.PENDING_APPROVAL
    assert version.version == "1.1.0"
    assert version.source == "learning_loop"
    assert version.base_version == seeded
    assert version.payload["flag_rules"][0]["value"] == 1
    assert Checkpoint.objects.filter(
        subject_id=str(version.pk), state=CheckpointState.PENDING
    ).exists()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"
    failure.refresh_from_db()
    assert failure.state == FailureState.RESOLVED
    kinds = list(ledger_for_subject(subject=version).values_list("kind", flat=True))
    assert "learning.provenance" in kinds
    chain = ledger_for_subject(subject=version).get(kind="learning.provenance").payload["chain"]
    assert [step["step"] for step in chain] == ["failure", "proposal", "sandbox", "promotion"]
    assert all(step["ledger_seq"] for step in chain)
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


def test_a_proposal_that_breaks_a_protected_case_is_ineligible_and_names_it(tenant, seeded):
    BacktestCaseFactory(
        tenant=tenant,
        case_id="case_term_emergence_006",
        features={"risk_signal": 0.9, "velocity": 0.8, "term_seen": 1},
        expected_decision="HIGH",
        expected_flags=["term_emergence"],
    )
    BacktestCaseFactory(
        tenant=tenant,
        case_id="case_protected_quiet",
        features={"risk_signal": 0.1, "velocity": 0.1, "term_seen": 1},
        expected_decision="LOW",
        expected_escalate=False,
        protected=True,
    )
    _run, _failures, proposals, _ = _analyze_and_propose(tenant, None)
    proposal = next(
        p for p in proposals if p.proposal_id.endswith("case_term_emergence_001_run_000001")
    )
    assert proposal.document["expected_delta"]["protected_at_risk"] == ["case_protected_quiet"]

    sandbox = services.proposal_sandbox(proposal=proposal, actor=ACTOR, now=NOW)

    proposal.refresh_from_db()
    assert proposal.state == ProposalState.INELIGIBLE
    verdict = {line["criterion"]: line for line in sandbox.report["gate"]["criteria"]}
    assert verdict["improvement_threshold"]["passed"] is True
    assert verdict["no_protected_regression"]["passed"] is False
    assert "case_protected_quiet" in verdict["no_protected_regression"]["detail"]
    assert sandbox.report["promotion_eligible"] is False
    with pytest.raises(Exception) as refused:
        services.proposal_promote(proposal=proposal, actor=ACTOR, now=NOW)
    assert refused.value.current_state == ProposalState.INELIGIBLE
    assert not ConfigVersion.objects.filter(source="learning_loop").exists()


def _loop_outputs(tenant, reviewer, tmp_path, capture):
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer, now=NOW)
    term_emergence_cases(tenant)
    with capture(execute=True):
        services.learning_loop_run(
            tenant=tenant, actor=ACTOR, auto_promote=True, output_dir=tmp_path, now=NOW
        )
    files = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file()
    }
    entries = [
        (e.kind, e.subject_type, json.dumps(_strip_pks(e.payload), sort_keys=True))
        for e in LedgerEntry.objects.filter(tenant=tenant).order_by("seq")
        if e.kind.startswith("learning.")
    ]
    return files, entries


def _strip_pks(value):
    """Database surrogate keys differ between two tenants; everything else must match."""
    if isinstance(value, dict):
        return {k: _strip_pks(v) for k, v in value.items() if not k.endswith("_pk")}
    if isinstance(value, list):
        return [_strip_pks(v) for v in value]
    return value


def test_running_the_whole_loop_twice_on_the_same_data_is_byte_identical(
    make_reviewer, tmp_path, django_capture_on_commit_callbacks
):
    first_tenant, second_tenant = TenantFactory(slug="first"), TenantFactory(slug="second")
    capture = django_capture_on_commit_callbacks
    first = _loop_outputs(first_tenant, make_reviewer("r1", first_tenant), tmp_path / "a", capture)
    second = _loop_outputs(
        second_tenant, make_reviewer("r2", second_tenant), tmp_path / "b", capture
    )

    assert first[0] and first[0] == second[0]
    assert first[1] and first[1] == second[1]
    assert any(kind == "learning.provenance" for kind, _s, _p in first[1])


def test_the_promoted_version_changes_runtime_only_after_a_reviewer_activates_it(
    tenant, seeded, reviewer
):
    from governance.services.versions import version_activate, version_approve

    services.learning_loop_run(tenant=tenant, actor=ACTOR, auto_promote=True, now=NOW)
    promoted = ConfigVersion.objects.get(tenant=tenant, source="learning_loop")
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"

    version_approve(version=promoted, user=reviewer, reason="sandbox report reviewed")
    version_activate(version=promoted, user=reviewer, reason="go")

    assert active_version(tenant_id=tenant.pk, family="scoring") == promoted
    rerun = services.backtest_run_execute(tenant=tenant, actor=ACTOR, now=NOW)
    assert rerun.config_version == promoted
    assert rerun.hit_count == 5
