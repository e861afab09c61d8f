"""Seed 002's structural proposals: a new metric (a derived feature) or a new operator, each
with a rent manifest that the sandbox measures and the gate enforces (issue 18)."""

from __future__ import annotations

import datetime as dt

import pytest

from calibration.scoring import score
from governance.models import LedgerEntry, VersionState
from governance.schemas import validate_payload
from governance.services.ledger import Actor
from learning.services import loop as services
from learning.services import loop_engine as engine
from tests.factories.loop import BacktestCaseFactory, activate_version, term_payload

# Six zero weights on features the cases lack: a realistic payload size, so that one new
# metric stays within the gate's 20% cost bound.
WIDE = {f"spare_{i}": 0.0 for i in range(6)}


def _payload(**overrides):
    payload = term_payload(**overrides)
    payload["weights"] = {**payload["weights"], **WIDE}
    return payload


def _record(case_id, features, expected, flags=(), escalate=None, protected=False):
    return {
        "case_id": case_id,
        "features": features,
        "expected_decision": expected,
        "expected_flags": list(flags),
        "expected_escalate": escalate,
        "protected": protected,
    }


def _case_set(payload, records):
    return engine.CaseSet.from_records(records, engine.payload_feature_names(payload))


def _propose_and_sandbox(payload, records, target):
    cases = _case_set(payload, records)
    failure = engine.analyze_failure(
        payload=payload, case=target, status="MISS", run_id="r", config_version="1.0.0"
    )
    proposal = engine.generate_proposal(
        payload=payload, base_version="1.0.0", failure=failure, case=target, cases=cases
    )
    report, _ = engine.sandbox_replay(
        base_payload=payload,
        proposal_payload=proposal["proposed_payload"],
        cases=cases,
        rent_manifest=proposal.get("rent_manifest"),
    )
    return proposal, report


# Two bands too low, with weights that no bounded step can carry: only a new metric helps.
FAR = _record("far", {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 0}, "HIGH")
# No velocity: the ratio is missing here, so the new metric leaves it alone.
QUIET = _record("quiet", {"risk_signal": 0.1, "term_seen": 0}, "LOW", protected=True)


def _criteria(report):
    return {line["criterion"]: line["passed"] for line in report["gate"]["criteria"]}


def test_a_new_metric_within_its_manifest_passes_the_gate():
    proposal, report = _propose_and_sandbox(_payload(), [FAR, QUIET], FAR)

    assert proposal["proposal_type"] == "new_metric"
    derived = proposal["change"]["new"]["derived_feature"]
    assert derived == {
        "a": "risk_signal",
        "b": "velocity",
        "name": "ratio_risk_signal_velocity",
        "op": "ratio",
    }
    assert validate_payload("scoring", proposal["proposed_payload"]) == {}
    assert score(proposal["proposed_payload"], FAR["features"]).decision == "HIGH"
    manifest = proposal["rent_manifest"]
    assert manifest["evaluation_ops_per_case"] == 6  # 2 presence, divisor test, divide, w*x, +
    assert report["rent"]["measured"]["evaluation_ops_per_case"] == 6
    assert report["rent"]["measured"]["payload_bytes"] == manifest["payload_bytes"]
    assert all(_criteria(report).values()), report["gate"]
    assert report["promotion_eligible"] is True


def test_a_new_metric_whose_measured_cost_exceeds_its_manifest_fails_the_gate(monkeypatch):
    # The grammar declares a ratio as cheap as a product: the sandbox counts the divisor test.
    monkeypatch.setitem(engine.DERIVED_RENT_OPS, "ratio", 3)

    proposal, report = _propose_and_sandbox(_payload(), [FAR, QUIET], FAR)

    assert proposal["rent_manifest"]["evaluation_ops_per_case"] == 5
    assert report["rent"]["measured"]["evaluation_ops_per_case"] == 6
    criteria = _criteria(report)
    assert criteria["rent_evaluation_cost_within_manifest"] is False
    assert report["promotion_eligible"] is False


def test_a_new_metric_that_costs_more_than_20_percent_fails_the_cost_bound():
    _proposal, report = _propose_and_sandbox(term_payload(), [FAR, QUIET], FAR)

    assert _criteria(report)["time_within_20_percent"] is False
    assert report["cost_delta"]["time_units_delta"] > 0


def test_structural_proposals_and_their_reports_are_byte_identical_on_rerun():
    first = _propose_and_sandbox(_payload(), [FAR, QUIET], FAR)
    second = _propose_and_sandbox(_payload(), [FAR, QUIET], FAR)

    assert engine.canonical_json(first[0]) == engine.canonical_json(second[0])
    assert engine.canonical_json(first[1]) == engine.canonical_json(second[1])


def test_a_magnitude_operator_beats_a_value_relaxation_that_would_flag_everything():
    payload = _payload(min_confidence=0.0)
    negative = _record(
        "negative",
        {"risk_signal": 0.1, "velocity": 0.1, "term_seen": -3},
        "LOW",
        flags=["term_emergence"],
        escalate=True,
    )
    quiet = _record(
        "quiet", {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 0}, "LOW", escalate=False
    )

    proposal, report = _propose_and_sandbox(payload, [negative, quiet], negative)

    assert proposal["proposal_type"] == "new_operator"
    assert proposal["change"] == {"path": "flag_rules[0].operator", "old": ">=", "new": "abs>="}
    assert report["rent"]["measured"]["evaluation_ops_per_case"] == 1
    assert report["promotion_eligible"] is True, report["gate"]


def test_a_bounded_parameter_change_is_still_preferred_to_a_new_metric():
    near = _record("near", {"risk_signal": 0.6, "velocity": 0.6, "term_seen": 0}, "HIGH")

    proposal, _ = _propose_and_sandbox(_payload(min_confidence=0.0), [near], near)

    assert proposal["proposal_type"] in {"threshold_adjustment", "weight_adjustment"}
    assert "rent_manifest" not in proposal


@pytest.mark.parametrize(
    ("derived", "error"),
    [
        pytest.param(
            [{"name": "x", "op": "pow", "a": "a", "b": "b"}], "payload.derived_features.0.op"
        ),
        pytest.param(
            [
                {"name": "x", "op": "product", "a": "a", "b": "b"},
                {"name": "y", "op": "product", "a": "x", "b": "b"},
            ],
            "payload.derived_features",
            id="chained",
        ),
    ],
)
def test_the_grammar_is_closed(derived, error):
    payload = term_payload(derived_features=derived)

    assert error in validate_payload("scoring", payload)


@pytest.mark.django_db
def test_a_new_metric_goes_from_failure_to_a_pending_version_with_its_rent_on_the_ledger(
    tenant, reviewer, tmp_path
):
    now = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    actor = Actor.system("learning_loop")
    activate_version(tenant=tenant, payload=_payload(), reviewer=reviewer, now=now)
    for record in (FAR, QUIET):
        BacktestCaseFactory(
            tenant=tenant,
            case_id=record["case_id"],
            features=record["features"],
            expected_decision=record["expected_decision"],
            protected=record["protected"],
        )
    run = services.backtest_run_execute(tenant=tenant, actor=actor, now=now)
    failures = services.failures_analyze(run=run, actor=actor, output_dir=tmp_path, now=now)
    (proposal,), _ = services.proposals_generate(
        failures=failures, actor=actor, output_dir=tmp_path, now=now
    )

    sandbox = services.proposal_sandbox(
        proposal=proposal, actor=actor, output_dir=tmp_path, now=now
    )
    version = services.proposal_promote(proposal=proposal, actor=actor, now=now)

    assert proposal.kind == "new_metric"
    assert sandbox.report["rent"]["measured"]["evaluation_ops_per_case"] == 6
    assert sandbox.report["promotion_eligible"] is True
    assert version.state == VersionState.PENDING_APPROVAL
    assert version.payload["derived_features"][0]["op"] == "ratio"
    sandboxed = LedgerEntry.objects.get(tenant=tenant, kind="learning.proposal.sandboxed")
    assert any(
        line["criterion"] == "rent_evaluation_cost_within_manifest"
        for line in sandboxed.payload["gate"]["criteria"]
    )
