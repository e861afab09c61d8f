import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.scoring import ABSTAIN, classify_scores, score, score_many
from tests.factories import scoring_payload

FEATURES = ["a", "b", "c", "d"]
finite = st.floats(min_value=-3, max_value=3, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0, max_value=1, allow_nan=False)


@st.composite
def payloads(draw):
    weights = draw(st.dictionaries(st.sampled_from(FEATURES), finite, min_size=1, max_size=4))
    thresholds = sorted(
        draw(
            st.sets(
                st.floats(min_value=0.01, max_value=0.99, allow_nan=False).map(
                    lambda v: round(v, 3)
                ),
                min_size=1,
                max_size=4,
            )
        )
    )
    rules = [
        {"name": f"flag_{i}", "feature": feature, "operator": op, "value": value}
        for i, (feature, op, value) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(FEATURES),
                        st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
                        finite,
                    ),
                    max_size=3,
                )
            )
        )
    ]
    names = [r["name"] for r in rules]
    return {
        "weights": weights,
        "bias": draw(finite),
        "bands": [f"B{i}" for i in range(len(thresholds) + 1)],
        "thresholds": thresholds,
        "flag_rules": rules,
        "escalate_on": draw(st.lists(st.sampled_from(names), unique=True)) if names else [],
        "min_confidence": draw(unit),
        "confidence_margin": draw(st.floats(min_value=0.01, max_value=1, allow_nan=False)),
    }


feature_rows = st.dictionaries(st.sampled_from(FEATURES), finite, max_size=4)


@settings(max_examples=200, deadline=None)
@given(payload=payloads(), features=feature_rows)
def test_score_and_confidence_stay_in_the_unit_interval(payload, features):
    result = score(payload, features)
    assert 0.0 <= result.score <= 1.0
    assert 0.0 <= result.confidence <= 1.0
    assert result.band in payload["bands"]
    assert result.decision in (result.band, ABSTAIN)


@settings(max_examples=200, deadline=None)
@given(payload=payloads(), values=st.lists(unit, min_size=2, max_size=30))
def test_the_band_never_goes_down_when_the_score_goes_up(payload, values):
    ordered = np.sort(np.asarray(values))
    band_index, _, _ = classify_scores(payload, ordered)
    assert np.all(np.diff(band_index) >= 0)
    # Through the whole scorer too: one feature with weight 1 makes the score that feature.
    single = {**payload, "weights": {"a": 1.0}, "bias": 0.0}
    bands = [single["bands"].index(score(single, {"a": float(v)}).band) for v in ordered]
    assert bands == sorted(bands)


@settings(max_examples=200, deadline=None)
@given(
    payload=payloads(),
    other_weights=st.dictionaries(st.sampled_from(FEATURES), finite, min_size=1, max_size=4),
    other_bias=finite,
    features=feature_rows,
)
def test_flags_and_escalation_do_not_depend_on_weights(
    payload, other_weights, other_bias, features
):
    reweighted = {**payload, "weights": other_weights, "bias": other_bias}
    first, second = score(payload, features), score(reweighted, features)
    assert first.flags == second.flags
    assert first.escalate == second.escalate


@settings(max_examples=200, deadline=None)
@given(payload=payloads(), features=feature_rows)
def test_the_same_input_gives_the_same_output(payload, features):
    reordered = dict(reversed(list(features.items())))
    assert score(payload, features) == score(copy.deepcopy(payload), reordered)
    assert score(payload, features) == score(payload, features)


@settings(max_examples=100, deadline=None)
@given(payload=payloads(), rows=st.lists(feature_rows, min_size=1, max_size=20))
def test_the_vectorised_path_equals_the_scalar_path(payload, rows):
    batch = score_many(payload, rows)
    assert [batch.result(i) for i in range(len(rows))] == [score(payload, r) for r in rows]
    assert batch.decisions() == [score(payload, r).decision for r in rows]


def test_a_high_signal_lands_in_the_top_band_and_escalates_on_its_flag():
    result = score(scoring_payload(), {"risk_signal": 1.0, "velocity": 0.95})
    assert (result.band, result.flags, result.escalate) == ("HIGH", ("velocity_spike",), True)


def test_it_abstains_next_to_a_boundary_below_min_confidence():
    # 0.6 * 0.5 + 0.4 * 0.26 = 0.404: 0.004 from the 0.4 boundary, confidence 0.04 < 0.1
    result = score(scoring_payload(), {"risk_signal": 0.5, "velocity": 0.26})
    assert result.band == "MEDIUM"
    assert result.confidence == pytest.approx(0.04)
    assert result.decision == ABSTAIN


def test_a_missing_feature_never_fires_a_flag():
    payload = scoring_payload(
        flag_rules=[{"name": "low_velocity", "feature": "velocity", "operator": "<", "value": 0.5}],
        escalate_on=["low_velocity"],
    )
    assert score(payload, {"risk_signal": 0.2}).flags == ()
    assert score(payload, {"risk_signal": 0.2, "velocity": 0.1}).flags == ("low_velocity",)
