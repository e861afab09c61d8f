"""Derived features (a closed grammar) and magnitude operators in the one scorer: the
scalar and the vectorised paths agree, and the payload stays valid (issue 18)."""

from hypothesis import given
from hypothesis import strategies as st

from calibration.scoring import DERIVED_OPS, MAGNITUDE_OPERATORS, score, score_many
from governance.schemas import validate_payload

INPUTS = ["a", "b", "c"]
finite = st.floats(min_value=-3, max_value=3, allow_nan=False, allow_infinity=False)


@st.composite
def derived_payloads(draw):
    derived = [
        {"name": f"d{i}", "op": op, "a": a, "b": b}
        for i, (op, a, b) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(DERIVED_OPS),
                        st.sampled_from(INPUTS),
                        st.sampled_from(INPUTS),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    ]
    names = INPUTS + [d["name"] for d in derived]
    weights = draw(st.dictionaries(st.sampled_from(names), finite, min_size=1, max_size=5))
    rules = [
        {"name": f"f{i}", "feature": feature, "operator": op, "value": value}
        for i, (feature, op, value) in enumerate(
            draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(names),
                        st.sampled_from([">=", *MAGNITUDE_OPERATORS]),
                        finite,
                    ),
                    max_size=3,
                )
            )
        )
    ]
    return {
        "weights": weights,
        "bands": ["LOW", "MID", "HIGH"],
        "thresholds": [0.3, 0.7],
        "derived_features": derived,
        "flag_rules": rules,
    }


rows = st.lists(
    st.dictionaries(st.sampled_from(INPUTS), finite | st.just(0.0), max_size=3),
    min_size=1,
    max_size=10,
)


@given(payload=derived_payloads(), cases=rows)
def test_the_vectorised_path_equals_the_scalar_path_with_derived_features(payload, cases):
    assert validate_payload("scoring", payload) == {}
    batch = score_many(payload, cases)
    assert [batch.result(i) for i in range(len(cases))] == [score(payload, c) for c in cases]


def test_a_ratio_over_zero_is_missing_and_contributes_nothing():
    payload = {
        "weights": {"r": 1.0},
        "bands": ["LOW", "HIGH"],
        "thresholds": [0.5],
        "derived_features": [{"name": "r", "op": "ratio", "a": "a", "b": "b"}],
    }

    assert score(payload, {"a": 1.0, "b": 0.0}).score == 0.0
    assert score(payload, {"a": 0.3, "b": 0.5}).score == 0.6


def test_a_magnitude_operator_fires_on_either_side_of_zero():
    payload = {
        "weights": {"a": 0.0},
        "bands": ["LOW", "HIGH"],
        "thresholds": [0.5],
        "flag_rules": [{"name": "big", "feature": "a", "operator": "abs>=", "value": 2}],
    }

    assert score(payload, {"a": -3.0}).flags == ("big",)
    assert score(payload, {"a": 1.0}).flags == ()
