from calibration.scoring import score, score_many
from tests.factories import scoring_payload


def test_a_high_signal_lands_in_the_top_band_and_escalates_on_its_flag():
    result = score(scoring_payload(), {"risk_signal": 1.0, "velocity": 0.95})
    assert result.band == "HIGH"
    assert result.flags == ("velocity_spike",)
    assert result.escalate is True


def test_the_batch_path_agrees_with_the_scalar_path():
    rows = [{"risk_signal": i / 10, "velocity": (10 - i) / 10} for i in range(11)]
    batch = score_many(scoring_payload(), rows)
    assert [batch.result(i) for i in range(len(rows))] == [
        score(scoring_payload(), r) for r in rows
    ]
