import datetime as dt

import pytest

from calibration.models import PatternCalibration
from calibration.models.patterns import MIN_SAMPLES
from calibration.selectors import adaptive_confidence_report, pattern_band
from calibration.services import patterns as services
from calibration.tasks.patterns import patterns_recalibrate_pending
from governance.errors import ValidationFailed

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def hundred_outcomes():
    """Confidences 0.01 .. 1.00. Above 0.60 every match is right; from 0.31 to 0.60 the even
    hundredths are right and the odd ones wrong; at 0.30 and below every match is wrong."""
    rows = []
    for i in range(1, 101):
        correct = i >= 61 or (31 <= i <= 60 and i % 2 == 0)
        rows.append({"pattern": "sig-42", "confidence": i / 100, "was_correct": correct})
    return rows


@pytest.mark.django_db
def test_a_pattern_with_100_outcomes_gets_the_hand_computed_thresholds(tenant):
    services.pattern_outcomes_record(tenant=tenant, outcomes=hundred_outcomes(), now=NOW)
    calibration = PatternCalibration.objects.get(tenant=tenant, pattern="sig-42")

    calibration = services.pattern_recalibrate(calibration=calibration, now=NOW)

    # Precision of "confidence >= j/100" is (40 + evens in [j, 60]) / (101 - j).
    # Strong (>= 0.9): j = 50 gives 46/51 = 0.902; j = 49 gives 46/52 = 0.885, j = 48 47/53,
    # and lower j only add wrong matches faster than right ones -> 0.50.
    # Weak (>= 0.7): j = 23 gives 55/78 = 0.705; j = 22 gives 55/79 = 0.696 -> 0.23.
    assert calibration.empirical_strong_threshold == pytest.approx(0.50)
    assert calibration.empirical_weak_threshold == pytest.approx(0.23)
    assert calibration.is_calibrated
    assert calibration.accuracy == pytest.approx(0.55)
    assert (calibration.total_matches, calibration.false_positives) == (100, 45)
    assert [calibration.get_calibrated_band(c) for c in (0.5, 0.49, 0.23, 0.22)] == [
        "STRONG",
        "WEAK",
        "WEAK",
        "NOVEL",
    ]
    assert pattern_band(tenant_id=tenant.pk, pattern="sig-42", confidence=0.55) == "STRONG"


def test_the_threshold_rule_matches_a_brute_force_reading_of_it():
    rows = hundred_outcomes()
    confidences = [r["confidence"] for r in rows]
    outcomes = [r["was_correct"] for r in rows]

    def brute(target):
        meeting = []
        for c in sorted(set(confidences)):
            above = [o for x, o in zip(confidences, outcomes, strict=True) if x >= c]
            if sum(above) / len(above) >= target:
                meeting.append(c)
        return min(meeting) if meeting else None

    for target in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0):
        assert services.empirical_threshold(confidences, outcomes, target) == brute(target)
    assert services.empirical_threshold([0.9, 0.8], [False, False], 0.5) is None


@pytest.mark.django_db
def test_below_the_sample_minimum_a_pattern_stays_uncalibrated_and_bands_by_the_defaults(tenant):
    rows = hundred_outcomes()[: MIN_SAMPLES - 1]
    services.pattern_outcomes_record(tenant=tenant, outcomes=rows, now=NOW)
    calibration = PatternCalibration.objects.get(tenant=tenant, pattern="sig-42")

    calibration = services.pattern_recalibrate(calibration=calibration, now=NOW)

    assert not calibration.is_calibrated
    assert calibration.empirical_strong_threshold is None
    assert calibration.recalibrated_at is None
    bands = [
        pattern_band(tenant_id=tenant.pk, pattern="sig-42", confidence=c)
        for c in (0.85, 0.84, 0.6, 0.59)
    ]
    assert bands == ["STRONG", "WEAK", "WEAK", "NOVEL"]


@pytest.mark.django_db
def test_an_unknown_pattern_bands_by_the_defaults(tenant):
    assert pattern_band(tenant_id=tenant.pk, pattern="never-seen", confidence=0.9) == "STRONG"
    assert pattern_band(tenant_id=tenant.pk, pattern="never-seen", confidence=0.7) == "WEAK"
    assert pattern_band(tenant_id=tenant.pk, pattern="never-seen", confidence=0.1) == "NOVEL"


@pytest.mark.django_db
def test_the_beat_task_recalibrates_only_patterns_with_new_outcomes(tenant):
    for pattern in ("a", "b"):
        rows = [{**r, "pattern": pattern} for r in hundred_outcomes()]
        services.pattern_outcomes_record(tenant=tenant, outcomes=rows, now=NOW)
    assert patterns_recalibrate_pending() == 2
    assert patterns_recalibrate_pending() == 0
    later = NOW + dt.timedelta(hours=1)
    services.pattern_outcome_record(
        tenant=tenant, pattern="a", confidence=0.3, was_correct=True, now=later
    )

    assert services.patterns_recalibrate_pending(now=later) == 1

    a, b = PatternCalibration.objects.filter(tenant=tenant).order_by("pattern")
    assert (a.calibrated_samples, b.calibrated_samples) == (101, 100)
    assert a.recalibrated_at == later and b.recalibrated_at != later


@pytest.mark.django_db
def test_recording_one_outcome_can_recalibrate_at_once(tenant):
    services.pattern_outcomes_record(tenant=tenant, outcomes=hundred_outcomes()[:-1], now=NOW)

    calibration = services.pattern_outcome_record(
        tenant=tenant, pattern="sig-42", confidence=1.0, was_correct=True, recalibrate=True
    )

    assert calibration.calibrated_samples == 100
    assert calibration.empirical_strong_threshold == pytest.approx(0.50)


@pytest.mark.django_db
def test_a_batch_with_one_bad_confidence_records_nothing(tenant):
    rows = [*hundred_outcomes()[:3], {"pattern": "sig-42", "confidence": 1.5, "was_correct": True}]

    with pytest.raises(ValidationFailed) as caught:
        services.pattern_outcomes_record(tenant=tenant, outcomes=rows)

    assert "3.confidence" in caught.value.errors
    assert not PatternCalibration.objects.exists()


@pytest.mark.django_db
def test_the_confidence_report_lists_thresholds_and_global_accuracy(tenant, other_tenant):
    services.pattern_outcomes_record(tenant=tenant, outcomes=hundred_outcomes(), now=NOW)
    services.pattern_outcomes_record(
        tenant=tenant,
        outcomes=[{"pattern": "young", "confidence": 0.9, "was_correct": False}],
        now=NOW,
    )
    services.pattern_outcomes_record(
        tenant=other_tenant,
        outcomes=[{"pattern": "theirs", "confidence": 0.9, "was_correct": True}],
        now=NOW,
    )
    services.patterns_recalibrate_pending(now=NOW)

    report = adaptive_confidence_report(tenant_id=tenant.pk)

    assert (report["total_patterns"], report["calibrated_patterns"]) == (2, 1)
    assert report["total_predictions"] == 101
    assert report["global_accuracy"] == pytest.approx(55 / 101)
    by_pattern = {row["pattern"]: row for row in report["patterns"]}
    assert by_pattern["sig-42"]["strong_threshold"] == pytest.approx(0.5)
    assert by_pattern["young"]["strong_threshold"] == 0.85


@pytest.mark.django_db
def test_the_api_records_outcomes_and_reads_a_band(api, tenant):
    response = api.post("/api/calibration/patterns/outcomes", hundred_outcomes(), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["recorded"] == 100
    services.patterns_recalibrate_pending()

    band = api.get("/api/calibration/patterns/band", {"pattern": "sig-42", "confidence": 0.3})
    report = api.get("/api/calibration/patterns/report")

    assert band.status_code == 200
    assert band.json()["band"] == "WEAK"
    assert band.json()["is_calibrated"] is True
    assert report.json()["patterns"][0]["pattern"] == "sig-42"


@pytest.mark.django_db
def test_the_api_refuses_an_outcome_with_an_unknown_field(api):
    response = api.post(
        "/api/calibration/patterns/outcomes",
        {"pattern": "p", "confidence": 0.5, "was_correct": True, "note": "free text"},
        format="json",
    )
    assert response.status_code == 400
    assert "note" in response.json()
    assert not PatternCalibration.objects.exists()


@pytest.mark.django_db
def test_the_band_endpoint_needs_a_confidence_in_range(api):
    response = api.get("/api/calibration/patterns/band", {"pattern": "p", "confidence": 2})
    assert response.status_code == 400
    assert "confidence" in response.json()
