"""The calibrator registry: training jobs, fitted parameters, evaluation gate, promotion."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from calibration import calibrators
from calibration.models import (
    CalibratorEvaluation,
    CalibratorVersion,
    ModelStage,
    TrainingJob,
    TrainingJobState,
)
from calibration.registry_sources import register_sample_source
from calibration.services import registry as services
from governance.errors import Forbidden, TransitionConflict, ValidationFailed
from governance.kernel.settings import settings_change_approve
from governance.models import LedgerEntry
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from tests.factories.events import signal_pairs

_ARRAYS: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _test_source(*, tenant_id, filters):
    return _ARRAYS["pairs"]


register_sample_source("test_pairs", _test_source)


@pytest.fixture
def pairs():
    def use(confidences, wins):
        _ARRAYS["pairs"] = (np.asarray(confidences), np.asarray(wins))

    yield use
    _ARRAYS.clear()


def _train(tenant, method="platt_scaling", **kwargs):
    job = services.training_job_submit(
        tenant=tenant,
        model_name=kwargs.pop("model_name", "confidence_calibrator"),
        method=method,
        actor=Actor.system("test"),
        sample_source="test_pairs",
        dispatch=False,
        **{"cv_folds": 5, "min_samples": 500, **kwargs},
    )
    services.training_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _version(tenant, **kwargs) -> CalibratorVersion:
    return _train(tenant, **kwargs).model_version


@pytest.mark.django_db
def test_a_job_on_enough_pairs_yields_a_development_version(tenant, pairs):
    pairs(*signal_pairs(2000, overconfident=True))

    job = _train(tenant)

    assert job.state == TrainingJobState.SUCCEEDED
    version = job.model_version
    assert version.stage == ModelStage.DEVELOPMENT
    assert version.number == 1
    assert version.samples == 2000
    assert set(version.parameters) >= {"a", "b"}
    assert {"brier_score", "log_loss", "ece", "folds"} <= set(version.metrics)
    assert len(version.metrics["folds"]) == 5
    assert "registered confidence_calibrator v1" in job.log
    kinds = list(LedgerEntry.objects.filter(tenant=tenant).values_list("kind", flat=True))
    assert "calibrator.version_registered" in kinds
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


@pytest.mark.django_db
def test_too_few_samples_fails_the_job_with_that_reason(tenant, pairs):
    pairs(*signal_pairs(120))

    job = _train(tenant, min_samples=500)

    assert job.state == TrainingJobState.FAILED
    assert job.failure_reason == "too few samples: 120 < min_samples 500"
    assert not CalibratorVersion.objects.exists()


@pytest.mark.django_db
def test_running_a_job_twice_trains_once(tenant, pairs):
    pairs(*signal_pairs(1000))
    job = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="isotonic",
        actor=Actor.system("test"),
        sample_source="test_pairs",
        min_samples=500,
        dispatch=False,
    )

    first = services.training_job_run(job_id=job.pk)
    second = services.training_job_run(job_id=job.pk)

    assert first is not None and first.state == TrainingJobState.SUCCEEDED
    assert second is None
    assert CalibratorVersion.objects.count() == 1
    assert TrainingJob.objects.get(pk=job.pk).attempts == 1


@pytest.mark.django_db
def test_platt_parameters_match_scikit_learn(tenant, pairs):
    confidences, wins = signal_pairs(3000, seed=4, overconfident=True)
    pairs(confidences, wins)

    version = _version(tenant, method="platt_scaling")

    clipped = np.clip(confidences, 1e-6, 1 - 1e-6)
    direct = LogisticRegression(C=np.inf, solver="lbfgs", tol=1e-10, max_iter=1000).fit(
        np.log(clipped / (1 - clipped)).reshape(-1, 1), wins
    )
    assert version.parameters["a"] == pytest.approx(direct.coef_[0][0], abs=1e-6)
    assert version.parameters["b"] == pytest.approx(direct.intercept_[0], abs=1e-6)


@pytest.mark.django_db
def test_isotonic_parameters_match_scikit_learn(tenant, pairs):
    confidences, wins = signal_pairs(3000, seed=5, overconfident=True)
    pairs(confidences, wins)

    version = _version(tenant, method="isotonic")

    direct = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(confidences, wins)
    np.testing.assert_allclose(version.parameters["x"], direct.X_thresholds_, atol=1e-6)
    np.testing.assert_allclose(version.parameters["y"], direct.y_thresholds_, atol=1e-6)
    probe = np.linspace(0, 1, 101)
    np.testing.assert_allclose(
        calibrators.apply("isotonic", version.parameters, probe), direct.predict(probe), atol=1e-9
    )


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["platt_scaling", "isotonic"])
def test_a_calibrator_of_over_confident_signals_lowers_ece_on_held_out_data(tenant, pairs, method):
    pairs(*signal_pairs(5000, seed=1, overconfident=True))
    held_conf, held_wins = signal_pairs(5000, seed=2, overconfident=True)

    version = _version(tenant, method=method)

    raw = calibrators.expected_calibration_error(held_conf, held_wins.astype(float))
    calibrated = calibrators.expected_calibration_error(
        calibrators.apply(method, version.parameters, held_conf), held_wins.astype(float)
    )
    assert raw > 0.1
    assert calibrated < raw / 3


@pytest.mark.django_db
def test_a_job_needs_a_known_method_and_source(tenant):
    with pytest.raises(ValidationFailed) as caught:
        services.training_job_submit(
            tenant=tenant,
            model_name="m",
            method="magic",
            actor=Actor.system("test"),
            sample_source="nowhere",
            cv_folds=1,
            dispatch=False,
        )
    assert {"method", "sample_source", "cv_folds"} <= set(caught.value.errors)


# --- evaluation and promotion ---------------------------------------------------------------

SEED_METRICS = {"brier_score": 0.08, "log_loss": 0.25}
SEED_THRESHOLDS = {"brier_score": 0.12, "log_loss": 0.30}


@pytest.fixture
def version(tenant, pairs):
    pairs(*signal_pairs(1000, overconfident=True))
    return _version(tenant)


def _evaluate(version, metrics=SEED_METRICS, thresholds=SEED_THRESHOLDS, **kwargs):
    return services.calibrator_evaluate(
        version=version,
        benchmark_name="validation_set",
        metrics=metrics,
        thresholds=thresholds,
        actor=Actor.system("test"),
        **kwargs,
    )


@pytest.mark.django_db
def test_the_seeds_evaluation_passes_and_allows_promotion(version, reviewer):
    evaluation = _evaluate(version)

    promoted = services.calibrator_promote(
        version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="passed"
    )

    assert evaluation.passed
    assert evaluation.results["brier_score"]["direction"] == "lower_is_better"
    assert promoted.stage == ModelStage.PRODUCTION
    assert promoted.promoted_at is not None


@pytest.mark.django_db
def test_a_failed_evaluation_blocks_promotion(version, reviewer):
    evaluation = _evaluate(version, metrics={"brier_score": 0.15, "log_loss": 0.25})

    with pytest.raises(TransitionConflict) as caught:
        services.calibrator_promote(
            version=version,
            target_stage="PRODUCTION",
            actor=Actor.for_user(reviewer),
            reason="passed",
        )

    assert not evaluation.passed
    assert evaluation.results["brier_score"]["passed"] is False
    assert caught.value.current_state == ModelStage.DEVELOPMENT
    assert "latest evaluation failed" in caught.value.message
    version.refresh_from_db()
    assert version.stage == ModelStage.DEVELOPMENT


@pytest.mark.django_db
def test_promotion_without_an_evaluation_is_refused(version, reviewer):
    with pytest.raises(TransitionConflict, match="no evaluation"):
        services.calibrator_promote(
            version=version,
            target_stage="PRODUCTION",
            actor=Actor.for_user(reviewer),
            reason="passed",
        )


@pytest.mark.django_db
def test_switching_the_gate_off_waits_for_a_second_reviewer(
    version, reviewer, second_reviewer, tenant
):
    outcome = services.registry_config_update(
        tenant=tenant,
        actor=Actor.for_user(reviewer),
        changes={"require_eval_pass": False},
        reason="promote without an evaluation this once",
    )
    with pytest.raises(TransitionConflict):
        services.calibrator_promote(
            version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="r"
        )
    settings_change_approve(change=outcome.change, user=second_reviewer, reason="agreed")

    promoted = services.calibrator_promote(
        version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="passed"
    )

    assert promoted.stage == ModelStage.PRODUCTION


@pytest.mark.django_db
def test_accuracy_like_metrics_pass_above_their_threshold(version):
    passed = _evaluate(version, metrics={"accuracy": 0.83}, thresholds={"accuracy": 0.8})
    failed = _evaluate(version, metrics={"accuracy": 0.78}, thresholds={"accuracy": 0.8})
    missing = _evaluate(version, metrics={"accuracy": 0.9}, thresholds={"ece": 0.05})

    assert (passed.passed, failed.passed, missing.passed) == (True, False, False)
    assert missing.results["ece"]["reason"] == "metric missing"


@pytest.mark.django_db
def test_a_baseline_must_be_matched_within_the_benchmark_share(version):
    # brier 0.08 beats its threshold, but a baseline of 0.07 allows at most 0.07 / 0.95.
    evaluation = _evaluate(version, baseline={"brier_score": 0.07})

    assert not evaluation.passed
    assert evaluation.results["brier_score"]["reason"] == "worse than the baseline allows"


@pytest.mark.django_db
def test_promoting_archives_the_previous_production_version(tenant, pairs, reviewer):
    pairs(*signal_pairs(1000, overconfident=True))
    first, second = _version(tenant), _version(tenant)
    actor = Actor.for_user(reviewer)
    for version in (first, second):
        _evaluate(version)
    services.calibrator_promote(
        version=first, target_stage="PRODUCTION", actor=actor, reason="passed"
    )

    services.calibrator_promote(version=second, target_stage="STAGING", actor=actor)
    services.calibrator_promote(
        version=second, target_stage="PRODUCTION", actor=actor, reason="passed"
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage, second.stage) == (ModelStage.ARCHIVED, ModelStage.PRODUCTION)
    assert second.number == 2
    kinds = list(
        LedgerEntry.objects.filter(tenant=tenant, kind__startswith="calibrator.version_")
        .order_by("seq")
        .values_list("kind", "payload__to")
    )
    assert kinds[-3:] == [
        ("calibrator.version_promoted", "STAGING"),
        ("calibrator.version_archived", None),
        ("calibrator.version_promoted", "PRODUCTION"),
    ]
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


@pytest.mark.django_db
def test_a_machine_cannot_promote_to_production(version):
    _evaluate(version)

    with pytest.raises(Forbidden):
        services.calibrator_promote(
            version=version, target_stage="PRODUCTION", actor=Actor.system("bot")
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "target"),
    [
        pytest.param(["ARCHIVE"], "STAGING", id="archived-to-staging"),
        pytest.param(["ARCHIVE"], "PRODUCTION", id="archived-to-production"),
        pytest.param(["STAGING"], "STAGING", id="staging-to-staging"),
    ],
)
def test_illegal_stage_moves_are_conflicts(version, reviewer, path, target):
    actor = Actor.for_user(reviewer)
    _evaluate(version)
    for step in path:
        if step == "ARCHIVE":
            services.calibrator_archive(version=version, actor=actor)
        else:
            services.calibrator_promote(version=version, target_stage=step, actor=actor)

    with pytest.raises(TransitionConflict):
        services.calibrator_promote(version=version, target_stage=target, actor=actor, reason="r")


@pytest.mark.django_db
def test_calibrate_applies_the_production_version(version, reviewer, tenant):
    _evaluate(version)
    services.calibrator_promote(
        version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="passed"
    )

    used, probabilities = services.calibrator_apply(
        tenant_id=tenant.pk, model_name="confidence_calibrator", confidences=[0.2, 0.5, 0.95]
    )

    assert used.pk == version.pk
    expected = calibrators.apply("platt_scaling", version.parameters, np.array([0.2, 0.5, 0.95]))
    np.testing.assert_allclose(probabilities, expected)
    # Over-confident signals are pulled toward 0.5.
    assert probabilities[2] < 0.9
    assert CalibratorEvaluation.objects.count() == 1


@pytest.mark.django_db
def test_the_celery_task_trains_once_when_delivered_twice(tenant, pairs):
    from calibration.tasks.registry import run_training_job

    pairs(*signal_pairs(800))
    job = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="platt_scaling",
        actor=Actor.system("test"),
        sample_source="test_pairs",
        min_samples=500,
        dispatch=False,
    )

    assert run_training_job.apply(args=[job.pk]).get() == TrainingJobState.SUCCEEDED
    assert run_training_job.apply(args=[job.pk]).get() == "skipped"
    assert CalibratorVersion.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_a_job_once(pairs):
    import threading

    from django.db import connection

    from tests.factories import TenantFactory

    tenant = TenantFactory(slug="race")
    pairs(*signal_pairs(800))
    job = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="isotonic",
        actor=Actor.system("test"),
        sample_source="test_pairs",
        min_samples=500,
        dispatch=False,
    )
    barrier = threading.Barrier(4)
    results = []

    def worker():
        barrier.wait()
        try:
            results.append(services.training_job_run(job_id=job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(result is not None for result in results) == 1
    assert CalibratorVersion.objects.filter(tenant=tenant).count() == 1
    assert TrainingJob.objects.get(pk=job.pk).attempts == 1


class WorkerKilled(BaseException):
    """What a killed worker leaves behind: the claim, and nothing after it."""


def _dying_source(*, tenant_id, filters):
    if not _ARRAYS.pop("dies_once", None):
        return _ARRAYS["pairs"]
    raise WorkerKilled


register_sample_source("test_dying_pairs", _dying_source)

NOW = timezone.now().replace(microsecond=0)


def _job_whose_worker_died(tenant, pairs) -> TrainingJob:
    pairs(*signal_pairs(800))
    _ARRAYS["dies_once"] = True
    job = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="platt_scaling",
        actor=Actor.system("test"),
        sample_source="test_dying_pairs",
        min_samples=500,
        dispatch=False,
        now=NOW,
    )
    with pytest.raises(WorkerKilled):
        services.training_job_run(job_id=job.pk, now=NOW)
    job.refresh_from_db()
    assert (job.state, job.claimed_until) == (TrainingJobState.RUNNING, NOW + LEASE)
    return job


LEASE = dt.timedelta(seconds=45)


@pytest.mark.django_db
def test_a_redelivery_reruns_a_job_whose_lease_ran_out(tenant, pairs, settings):
    settings.TRAINING_JOB_LEASE_SECONDS = 45
    job = _job_whose_worker_died(tenant, pairs)

    assert services.training_job_run(job_id=job.pk, now=NOW + dt.timedelta(seconds=30)) is None
    assert services.training_job_leased_until(
        job_id=job.pk, now=NOW + dt.timedelta(seconds=30)
    ) == (NOW + LEASE)
    rerun = services.training_job_run(job_id=job.pk, now=NOW + dt.timedelta(seconds=46))

    assert rerun.state == TrainingJobState.SUCCEEDED
    assert rerun.attempts == 2
    assert rerun.claimed_until is None
    assert CalibratorVersion.objects.filter(training_job=job).count() == 1


@pytest.mark.django_db
def test_the_beat_requeues_expired_leases_and_jobs_queued_too_long(
    tenant, pairs, settings, monkeypatch
):
    from calibration.tasks import registry as tasks

    settings.TRAINING_JOB_LEASE_SECONDS = 45
    died = _job_whose_worker_died(tenant, pairs)
    queued = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="isotonic",
        actor=Actor.system("test"),
        sample_source="test_pairs",
        min_samples=500,
        dispatch=False,
        now=NOW + dt.timedelta(seconds=10),
    )
    dispatched: list[int] = []
    monkeypatch.setattr(tasks.run_training_job, "delay", dispatched.append)

    def beat(seconds_after):
        dispatched.clear()
        services.training_jobs_dispatch_queued(
            older_than=dt.timedelta(seconds=60), now=NOW + dt.timedelta(seconds=seconds_after)
        )
        return sorted(dispatched)

    assert beat(40) == []  # the lease is live, the job was queued 30 s ago
    assert beat(46) == [died.pk]  # the lease ran out
    assert beat(71) == sorted([died.pk, queued.pk])  # and the other waited over a minute


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_cannot_finish_the_job(tenant, pairs, settings):
    settings.TRAINING_JOB_LEASE_SECONDS = 45
    job = _job_whose_worker_died(tenant, pairs)
    stale_claim = TrainingJob.objects.get(pk=job.pk)  # attempt 1, e.g. a SIGSTOPped worker
    services.training_job_run(job_id=job.pk, now=NOW + dt.timedelta(seconds=46))

    resumed = services._finish_failed(stale_claim, "late", [], Actor.system("test"), NOW)

    assert (resumed.state, resumed.attempts) == (TrainingJobState.SUCCEEDED, 2)
    assert TrainingJob.objects.get(pk=job.pk).state == TrainingJobState.SUCCEEDED
    assert not services.training_job_lease_renew(job_id=job.pk, attempt=1)


@pytest.mark.django_db
def test_a_live_worker_renews_its_lease(tenant, pairs, settings):
    settings.TRAINING_JOB_LEASE_SECONDS = 45
    job = _job_whose_worker_died(tenant, pairs)

    assert services.training_job_lease_renew(
        job_id=job.pk, attempt=1, now=NOW + dt.timedelta(seconds=40)
    )
    assert services.training_job_run(job_id=job.pk, now=NOW + dt.timedelta(seconds=60)) is None
    job.refresh_from_db()
    assert job.claimed_until == NOW + dt.timedelta(seconds=85)
