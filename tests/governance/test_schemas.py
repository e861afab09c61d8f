from hypothesis import given, settings
from hypothesis import strategies as st

from governance.schemas import apply_structural_diff, structural_diff, three_way_diff
from tests.factories import scoring_payload

KEYS = st.sampled_from(["a", "b", "c", "weights", "thresholds"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-1, 1) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(old=st.dictionaries(KEYS, JSON, max_size=4), new=st.dictionaries(KEYS, JSON, max_size=4))
def test_applying_a_structural_diff_to_its_old_side_gives_its_new_side(old, new):
    assert apply_structural_diff(old, structural_diff(old, new)) == new


def test_the_three_way_diff_names_the_paths_both_sides_touched():
    base = scoring_payload()
    active = scoring_payload(thresholds=[0.44, 0.7], confidence_margin=0.05)
    proposal = scoring_payload(thresholds=[0.42, 0.7], bias=0.1)

    diff = three_way_diff(base, active, proposal)

    assert [c["path"] for c in diff["base_to_active"]] == ["confidence_margin", "thresholds[0]"]
    assert [c["path"] for c in diff["base_to_proposal"]] == ["bias", "thresholds[0]"]
    assert diff["both_touched"] == ["thresholds[0]"]


def test_a_whole_list_replaced_on_one_side_overlaps_its_items_on_the_other():
    base = {"thresholds": [0.4, 0.7]}
    active = {"thresholds": [0.3, 0.5, 0.7]}  # a length change diffs the whole list
    proposal = {"thresholds": [0.42, 0.7]}

    assert three_way_diff(base, active, proposal)["both_touched"] == [
        "thresholds",
        "thresholds[0]",
    ]
