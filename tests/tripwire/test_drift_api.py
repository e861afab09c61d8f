"""The drift API at /api/tripwire/."""

from __future__ import annotations

import pytest

from governance.models import Checkpoint
from tripwire.models import DriftBaseline


@pytest.mark.django_db
def test_the_seeds_drift_example_over_the_api(api, reviewer_api):
    baseline = api.post(
        "/api/tripwire/drift/baselines/",
        {"model": "confidence_calibrator", "metrics": {"accuracy": 0.82, "precision": 0.79}},
        format="json",
    )
    quiet = api.post(
        "/api/tripwire/drift/check",
        {"model": "confidence_calibrator", "current": {"accuracy": 0.75, "precision": 0.72}},
        format="json",
    )
    loud = api.post(
        "/api/tripwire/drift/check",
        {"model": "confidence_calibrator", "current": {"accuracy": 0.70}},
        format="json",
    )
    alert_id = loud.json()["alerts"][0]["id"]
    machine_ack = api.post(
        f"/api/tripwire/drift/alerts/{alert_id}/acknowledge/", {"reason": "x"}, format="json"
    )
    human_ack = reviewer_api.post(
        f"/api/tripwire/drift/alerts/{alert_id}/acknowledge/", {"reason": "retrain"}, format="json"
    )

    assert baseline.status_code == 201
    assert quiet.json()["alerts"] == []
    assert [c["exceeded"] for c in quiet.json()["changes"]] == [False, False]
    assert loud.json()["alerts"][0]["metric"] == "accuracy"
    assert Checkpoint.objects.filter(checkpoint_type="drift_alert").count() == 1
    assert machine_ack.status_code == 403
    assert human_ack.json()["state"] == "ACKNOWLEDGED"
    assert api.get("/api/tripwire/drift/alerts/", {"state": "OPEN"}).json()["count"] == 0


@pytest.mark.django_db
def test_a_check_without_a_baseline_is_404_and_bad_metrics_are_400(api):
    missing = api.post(
        "/api/tripwire/drift/check", {"model": "nope", "current": {"a": 1.0}}, format="json"
    )
    bad = api.post(
        "/api/tripwire/drift/baselines/",
        {"model": "m", "metrics": {"accuracy": "high"}},
        format="json",
    )

    assert missing.status_code == 404
    assert bad.status_code == 400


@pytest.mark.django_db
def test_odd_metric_names_and_extreme_values_are_handled(api):
    nul = api.post(
        "/api/tripwire/drift/baselines/", {"model": "m", "metrics": {"a\u0000": 1.0}}, format="json"
    )
    api.post(
        "/api/tripwire/drift/baselines/", {"model": "m", "metrics": {"a": 1e-300}}, format="json"
    )
    extreme = api.post(
        "/api/tripwire/drift/check", {"model": "m", "current": {"a": 1e300}}, format="json"
    )

    assert nul.status_code == 400
    assert extreme.status_code == 200
    assert extreme.json()["changes"][0]["change_pct"] == 1e12


# Finding 4 of issue 13: a machine could reset its own drift baseline and threshold. ----------

BASELINES = "/api/tripwire/drift/baselines/"


@pytest.mark.django_db
def test_a_machine_resetting_its_drift_threshold_only_requests_it(api, tenant):
    first = api.post(
        BASELINES, {"model": "confidence_calibrator", "metrics": {"accuracy": 0.82}}, format="json"
    )

    reset = api.post(
        BASELINES,
        {
            "model": "confidence_calibrator",
            "metrics": {"accuracy": 0.82},
            "threshold_pct": 100000,
            "reason": "alerts are noise",
        },
        format="json",
    )

    assert first.status_code == 201
    assert reset.status_code == 202, reset.json()
    assert reset.json()["loosened"] == ["threshold_pct"]
    assert DriftBaseline.objects.get(tenant=tenant).threshold_pct is None
    assert Checkpoint.objects.filter(checkpoint_type="settings_change", state="PENDING").exists()


@pytest.mark.django_db
def test_a_machine_replacing_its_baseline_only_requests_it(api, tenant):
    api.post(
        BASELINES, {"model": "confidence_calibrator", "metrics": {"accuracy": 0.82}}, format="json"
    )

    reset = api.post(
        BASELINES,
        {"model": "confidence_calibrator", "metrics": {"accuracy": 0.55}, "reason": "new normal"},
        format="json",
    )

    assert reset.status_code == 202 and reset.json()["loosened"] == ["metrics"]
    assert DriftBaseline.objects.get(tenant=tenant).metrics == {"accuracy": 0.82}


@pytest.mark.django_db
def test_a_machine_may_lower_its_drift_threshold_at_once(api, tenant):
    api.post(
        BASELINES,
        {"model": "m", "metrics": {"accuracy": 0.82}, "threshold_pct": 0.2},
        format="json",
    )

    lowered = api.post(
        BASELINES,
        {"model": "m", "metrics": {"accuracy": 0.82}, "threshold_pct": 0.05},
        format="json",
    )

    assert lowered.status_code == 201 and lowered.json()["threshold_pct"] == 0.05
