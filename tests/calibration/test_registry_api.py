"""The calibrator registry API: jobs, evaluations, promotion and the calibrate endpoint."""

from __future__ import annotations

import pytest

from calibration.models import CalibratorVersion, TrainingJob
from calibration.services import registry as services
from governance.services.ledger import Actor
from tests.factories.events import record_trades, trades


def _train(api, tenant, **body):
    record_trades(tenant, trades(600, overconfident=True))
    response = api.post(
        "/api/calibration/training-jobs/",
        {
            "model_name": "confidence_calibrator",
            "method": "platt_scaling",
            "min_samples": 500,
            **body,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    services.training_job_run(job_id=response.json()["id"])
    return api.get(f"/api/calibration/training-jobs/{response.json()['id']}/").json()


@pytest.mark.django_db
def test_a_machine_trains_evaluates_and_stages_a_reviewer_promotes(api, reviewer_api, tenant):
    job = _train(api, tenant)
    version_id = job["model_version"]
    url = f"/api/calibration/model-versions/{version_id}"

    evaluation = api.post(
        f"{url}/evaluate/",
        {
            "benchmark_name": "validation_set",
            "metrics": {"brier_score": 0.08, "log_loss": 0.25},
            "thresholds": {"brier_score": 0.12, "log_loss": 0.30},
        },
        format="json",
    )
    staged = api.post(f"{url}/promote/", {"target_stage": "STAGING"}, format="json")
    machine = api.post(
        f"{url}/promote/",
        {"target_stage": "PRODUCTION", "reason": "evaluation passed"},
        format="json",
    )
    human = reviewer_api.post(
        f"{url}/promote/", {"target_stage": "PRODUCTION", "reason": "passed"}, format="json"
    )
    calibrated = api.post(
        "/api/calibration/calibrate",
        {"model": "confidence_calibrator", "confidences": [0.3, 0.9]},
        format="json",
    )

    assert job["state"] == "SUCCEEDED" and job["samples"] == 600
    assert evaluation.status_code == 201 and evaluation.json()["passed"] is True
    assert staged.json()["stage"] == "STAGING"
    assert machine.status_code == 403
    assert human.status_code == 200 and human.json()["stage"] == "PRODUCTION"
    body = calibrated.json()
    assert body["version"] == 1 and len(body["probabilities"]) == 2
    assert 0 < body["probabilities"][0] < body["probabilities"][1] < 0.9


@pytest.mark.django_db
def test_a_failed_evaluation_is_a_409_with_the_stage(api, reviewer_api, tenant):
    job = _train(api, tenant)
    url = f"/api/calibration/model-versions/{job['model_version']}"
    api.post(
        f"{url}/evaluate/",
        {
            "benchmark_name": "v",
            "metrics": {"brier_score": 0.2},
            "thresholds": {"brier_score": 0.12},
        },
        format="json",
    )

    response = reviewer_api.post(
        f"{url}/promote/",
        {"target_stage": "PRODUCTION", "reason": "evaluation passed"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["current_state"] == "DEVELOPMENT"
    assert response.json()["code"] == "evaluation_required"


@pytest.mark.django_db
def test_too_few_samples_is_reported_on_the_job(api, tenant):
    job = _train(api, tenant, min_samples=5000)

    assert job["state"] == "FAILED"
    assert job["failure_reason"] == "too few samples: 600 < min_samples 5000"
    assert job["model_version"] is None


@pytest.mark.django_db
def test_bad_job_requests_are_400_and_store_nothing(api):
    response = api.post(
        "/api/calibration/training-jobs/",
        {"model_name": "m", "method": "svm", "cv_folds": 1},
        format="json",
    )
    unknown = api.post(
        "/api/calibration/training-jobs/",
        {"model_name": "m", "method": "isotonic", "pickle": "x"},
        format="json",
    )

    assert response.status_code == 400
    assert {"method", "cv_folds"} <= set(response.json())
    assert unknown.json() == {"pickle": ["unknown field"]}
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_calibrate_without_a_production_version_is_404(api):
    response = api.post(
        "/api/calibration/calibrate", {"model": "nothing", "confidences": [0.5]}, format="json"
    )
    out_of_range = api.post(
        "/api/calibration/calibrate", {"model": "nothing", "confidences": [1.5]}, format="json"
    )

    assert response.status_code == 404
    assert out_of_range.status_code == 400


@pytest.mark.django_db
def test_another_tenants_versions_are_404(api, other_tenant):
    record_trades(other_tenant, trades(600))
    job = services.training_job_submit(
        tenant=other_tenant,
        model_name="c",
        method="isotonic",
        min_samples=500,
        actor=Actor.system("t"),
        dispatch=False,
    )
    services.training_job_run(job_id=job.pk)
    version = CalibratorVersion.objects.get()

    assert api.get(f"/api/calibration/model-versions/{version.pk}/").status_code == 404
    assert api.get(f"/api/calibration/training-jobs/{job.pk}/").status_code == 404


@pytest.fixture
def eager_celery():
    from governance.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.mark.django_db
def test_a_submitted_job_is_dispatched_to_celery_after_commit(
    api, tenant, eager_celery, django_capture_on_commit_callbacks
):
    record_trades(tenant, trades(600))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(
            "/api/calibration/training-jobs/",
            {"model_name": "confidence_calibrator", "method": "isotonic", "min_samples": 500},
            format="json",
        )

    job = TrainingJob.objects.get(pk=response.json()["id"])
    assert len(callbacks) >= 1
    assert job.state == "SUCCEEDED"
    assert job.model_version.number == 1
