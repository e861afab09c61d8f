"""The pure core of the loop: classification, analysis, candidates, replay and the gate."""

from __future__ import annotations

import numpy as np
import pytest

from learning.services import loop_engine as engine
from tests.factories.loop import term_payload


def _cases(*records):
    return engine.CaseSet.from_records(
        [
            {
                "case_id": case_id,
                "features": features,
                "expected_decision": expected,
                "expected_flags": flags,
                "expected_escalate": escalate,
                "protected": protected,
            }
            for case_id, features, expected, flags, escalate, protected in records
        ],
        engine.payload_feature_names(term_payload()),
    )


@pytest.mark.parametrize(
    ("features", "expected", "flags", "escalate", "status"),
    [
        pytest.param(
            {"risk_signal": 0.9, "velocity": 0.9, "term_seen": 3},
            "HIGH",
            ["term_emergence"],
            True,
            "HIT",
            id="band-flag-escalation-hit",
        ),
        pytest.param(
            {"risk_signal": 0.9, "velocity": 0.9, "term_seen": 1},
            "HIGH",
            ["term_emergence"],
            None,
            "MISS",
            id="missing-flag-miss",
        ),
        pytest.param(
            {"risk_signal": 0.9, "velocity": 0.9, "term_seen": 3},
            "HIGH",
            [],
            False,
            "MISS",
            id="unwanted-escalation-miss",
        ),
        pytest.param(
            {"risk_signal": 0.1, "velocity": 0.1}, "HIGH", [], None, "MISS", id="wrong-band-miss"
        ),
        pytest.param(
            {"risk_signal": 0.4, "velocity": 0.4},
            "MEDIUM",
            [],
            None,
            "ABSTAIN",
            id="on-the-boundary-abstains",
        ),
        pytest.param(
            {"risk_signal": 0.4, "velocity": 0.4},
            "ABSTAIN",
            [],
            None,
            "HIT",
            id="expected-abstention-hit",
        ),
        pytest.param(
            {"risk_signal": 0.1, "velocity": 0.1},
            "LOW",
            ["no_such_flag"],
            None,
            "MISS",
            id="unknown-flag-miss",
        ),
    ],
)
def test_a_case_is_classified_by_decision_flags_and_escalation(
    features, expected, flags, escalate, status
):
    cases = _cases(("c", features, expected, flags, escalate, False))
    _batch, codes = engine.replay(term_payload(), cases)
    assert engine.STATUS_NAMES[codes[0]] == status


def test_the_analysis_of_a_wrong_band_names_the_threshold_and_the_margin():
    case = {
        "case_id": "c",
        "features": {"risk_signal": 0.6, "velocity": 0.6},
        "expected_decision": "HIGH",
        "expected_flags": [],
        "expected_escalate": None,
        "protected": False,
    }
    artifact = engine.analyze_failure(
        payload=term_payload(),
        case=case,
        status="MISS",
        run_id="run_000001",
        config_version="1.0.0",
    )
    assert artifact["hypothesis"] == "threshold_too_high"
    threshold = next(d for d in artifact["decided_by"] if d["element"] == "thresholds[1]")
    assert threshold == {
        "element": "thresholds[1]",
        "kind": "threshold",
        "value": 0.7,
        "observed": 0.6,
        "margin": -0.1,
    }
    assert artifact["signal_gaps"]["missing_features"] == ["term_seen"]
    assert "lower_threshold:thresholds[1]" in artifact["suggested_adjustments"]


def test_signal_gaps_name_missing_and_out_of_range_features():
    case = {
        "case_id": "c",
        "features": {"risk_signal": 1.7, "extra": 2},
        "expected_decision": "LOW",
        "expected_flags": ["term_emergence"],
        "expected_escalate": None,
        "protected": False,
    }
    artifact = engine.analyze_failure(
        payload=term_payload(), case=case, status="MISS", run_id="r", config_version="1.0.0"
    )
    gaps = artifact["signal_gaps"]
    assert gaps["missing_features"] == ["term_seen", "velocity"]
    assert gaps["out_of_range"] == [{"feature": "risk_signal", "value": 1.7}]
    assert gaps["unused_features"] == ["extra"]
    assert artifact["hypothesis"] == "signal_gap_missing_features"


def test_a_high_confidence_abstain_gets_a_min_confidence_proposal():
    payload = term_payload(min_confidence=0.9)
    cases = _cases(
        (
            "abstains",
            {"risk_signal": 0.47, "velocity": 0.47, "term_seen": 0},
            "MEDIUM",
            [],
            None,
            False,
        ),
        ("fine", {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 0}, "LOW", [], None, False),
    )
    batch, codes = engine.replay(payload, cases)
    assert engine.STATUS_NAMES[codes[0]] == "ABSTAIN"
    assert engine.confidence_level(float(batch.confidence[0])) == "HIGH"
    record = {
        "case_id": "abstains",
        "features": cases.rows[0],
        "expected_decision": "MEDIUM",
        "expected_flags": [],
        "expected_escalate": None,
        "protected": False,
    }
    failure = engine.analyze_failure(
        payload=payload, case=record, status="ABSTAIN", run_id="r", config_version="1.0.0"
    )
    assert failure["hypothesis"] == "min_confidence_too_strict"
    proposal = engine.generate_proposal(
        payload=payload, base_version="1.0.0", failure=failure, case=record, cases=cases
    )
    assert proposal["proposal_type"] == "threshold_adjustment"
    assert proposal["change"]["path"] == "min_confidence"
    assert proposal["change"]["new"] <= float(batch.confidence[0])


def test_the_generator_picks_the_candidate_with_the_highest_net_improvement():
    # Two cases at 0.68, just under the HIGH threshold 0.7: lowering the threshold fixes
    # both, raising the velocity weight fixes only "a" (it has more velocity), so the
    # threshold wins (and beats the equally good risk_signal weight on kind order).
    cases = _cases(
        ("a", {"risk_signal": 0.6, "velocity": 0.8, "term_seen": 0}, "HIGH", [], None, False),
        ("b", {"risk_signal": 0.9, "velocity": 0.35, "term_seen": 0}, "HIGH", [], None, False),
    )
    payload = term_payload(min_confidence=0.0)
    record = {
        "case_id": "a",
        "features": cases.rows[0],
        "expected_decision": "HIGH",
        "expected_flags": [],
        "expected_escalate": None,
        "protected": False,
    }
    failure = engine.analyze_failure(
        payload=payload, case=record, status="MISS", run_id="r", config_version="1.0.0"
    )
    proposal = engine.generate_proposal(
        payload=payload, base_version="1.0.0", failure=failure, case=record, cases=cases
    )
    assert proposal["change"]["path"] == "thresholds[1]"
    assert proposal["expected_delta"]["improved_cases"] == ["a", "b"]
    assert proposal["selection"]["candidates_considered"] >= 2


def test_sandbox_reports_are_byte_identical_apart_from_measurements():
    cases = _cases(
        (
            "a",
            {"risk_signal": 0.9, "velocity": 0.8, "term_seen": 1},
            "HIGH",
            ["term_emergence"],
            None,
            False,
        ),
        ("b", {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 0}, "LOW", [], False, True),
    )
    proposed = engine.apply_change(term_payload(), "flag_rules[0].value", 1)
    first, m1 = engine.sandbox_replay(
        base_payload=term_payload(), proposal_payload=proposed, cases=cases
    )
    second, m2 = engine.sandbox_replay(
        base_payload=term_payload(), proposal_payload=proposed, cases=cases
    )
    assert engine.canonical_json(first) == engine.canonical_json(second)
    assert "time_ms" in m1 and "memory_kb" in m2
    assert first["delta"]["pass_rate_delta"] == 0.5
    assert first["promotion_eligible"] is True


def test_the_gate_refuses_a_small_improvement_and_unstable_runs():
    gate = engine.gate_evaluate(
        delta={"pass_rate_delta": 0.05},
        fixed_cases=["a"],
        regressed_cases=[],
        protected_regressed_cases=[],
        cost_delta={"time_ratio": 1.0, "memory_ratio": 1.3},
        stabilization={"runs": 3, "required_runs": 3, "identical": False},
        declared_threshold=0.10,
    )
    failed = [line["criterion"] for line in gate["criteria"] if not line["passed"]]
    assert failed == ["improvement_threshold", "memory_within_20_percent", "stabilization"]
    assert gate["passed"] is False


def test_a_change_that_adds_cost_beyond_20_percent_fails_the_cost_bound():
    base = term_payload()
    heavier = term_payload(
        flag_rules=base["flag_rules"] * 1
        + [
            {"name": f"extra_{i}", "feature": "term_seen", "operator": ">", "value": 50}
            for i in range(6)
        ]
    )
    t0, m0 = engine.cost_proxy(base, 100)
    t1, m1 = engine.cost_proxy(heavier, 100)
    assert t1 / t0 > 1.2
    assert m1 > m0


def test_apply_change_leaves_the_original_payload_untouched():
    payload = term_payload()
    changed = engine.apply_change(payload, "weights.velocity", 0.5)
    assert payload["weights"]["velocity"] == 0.4
    assert changed["weights"]["velocity"] == 0.5
    assert np.isclose(engine.apply_change(payload, "thresholds[0]", 0.35)["thresholds"][0], 0.35)
