"""Use cases of the calibrator registry (seed 004): training jobs, evaluations, promotion,
applying the production calibrator. Each state change writes its ledger entry in its own
transaction; the fit itself runs outside any transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_fsm import can_proceed

from calibration import calibrators
from calibration.models import (
    CalibrationMethod,
    CalibratorEvaluation,
    CalibratorModel,
    CalibratorRegistryConfig,
    CalibratorVersion,
    ModelStage,
    TrainingJob,
    TrainingJobState,
)
from calibration.registry_sources import counters, sample_source, sample_source_names
from governance.errors import NotFound, TransitionConflict, ValidationFailed
from governance.kernel.authority import require_human_actor
from governance.kernel.kinds import LedgerKind
from governance.kernel.settings import SettingsOutcome
from governance.kernel.transitions import govern_transition
from governance.models import Tenant
from governance.services.ledger import Actor, ledger_append
from governance.services.settings import (
    row_values,
    settings_upsert,
    tenant_config_writer,
    validate_row,
)

logger = logging.getLogger(__name__)

# A job QUEUED this long has probably lost its broker message (or the worker that prefetched
# it died): the beat dispatches it again, and the claim makes a duplicate harmless.
QUEUED_TOO_LONG = dt.timedelta(seconds=60)
MAX_CV_FOLDS = 20
SAMPLE_FILTER_KEYS = {"source_engine", "subject", "since", "until"}
REGISTRY_CONFIG_FIELDS = (
    "min_samples_for_training",
    "training_batch_size",
    "require_eval_pass",
    "eval_benchmark_threshold",
    "enable_drift_detection",
    "drift_threshold_pct",
)


class EvaluationGateClosed(TransitionConflict):
    code = "evaluation_required"


# --- settings -------------------------------------------------------------------------------


def registry_config_for(*, tenant: Tenant | int) -> CalibratorRegistryConfig:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    config, _ = CalibratorRegistryConfig.objects.get_or_create(tenant_id=tenant_id)
    return config


def registry_config_values(*, tenant: Tenant | int) -> dict[str, Any]:
    config = registry_config_for(tenant=tenant)
    return {name: getattr(config, name) for name in REGISTRY_CONFIG_FIELDS}


def registry_config_read(tenant_id: int, target: str) -> dict[str, Any]:
    row = CalibratorRegistryConfig.objects.filter(tenant_id=tenant_id).first()
    return row_values(CalibratorRegistryConfig, row, REGISTRY_CONFIG_FIELDS)


def registry_config_validate(
    tenant_id: int, target: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if "eval_benchmark_threshold" in values and not (
        0 < float(values["eval_benchmark_threshold"]) <= 1
    ):
        errors["eval_benchmark_threshold"] = ["must be in (0, 1]"]
    if "drift_threshold_pct" in values and not float(values["drift_threshold_pct"]) > 0:
        errors["drift_threshold_pct"] = ["must be greater than 0"]
    return errors or validate_row(
        CalibratorRegistryConfig, lookup={"tenant_id": tenant_id}, values=values
    )


registry_config_write = tenant_config_writer(CalibratorRegistryConfig)


@transaction.atomic
def registry_config_update(
    *,
    tenant: Tenant | int,
    actor: Actor,
    changes: dict[str, Any],
    reason: str = "",
    now: dt.datetime | None = None,
) -> SettingsOutcome:
    """Change the registry's training, evaluation and drift settings, governed like a config
    (``calibration.settings_kinds`` says which direction of each loosens)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return settings_upsert(
        tenant=tenant_id,
        setting="calibrator_registry_config",
        target="registry",
        values=dict(changes),
        actor=actor,
        reason=reason,
        find=lambda: CalibratorRegistryConfig.objects.filter(tenant_id=tenant_id).first(),
        now=now,
    )


# --- training -------------------------------------------------------------------------------


def calibrator_model_for(
    *, tenant: Tenant | int, name: str, model_type: str = "signal"
) -> CalibratorModel:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    model, _ = CalibratorModel.objects.get_or_create(
        tenant_id=tenant_id, name=name, defaults={"model_type": model_type}
    )
    return model


def _validate_job(
    *, method: str, cv_folds: int, min_samples: int, source: str, sample_filter: dict
) -> None:
    errors: dict[str, list[str]] = {}
    if method not in CalibrationMethod.values:
        errors["method"] = [f"must be one of {', '.join(CalibrationMethod.values)}"]
    if not isinstance(cv_folds, int) or not 2 <= cv_folds <= MAX_CV_FOLDS:
        errors["cv_folds"] = [f"must be an integer from 2 to {MAX_CV_FOLDS}"]
    if not isinstance(min_samples, int) or min_samples < 2:
        errors["min_samples"] = ["must be an integer of at least 2"]
    elif isinstance(cv_folds, int) and min_samples < cv_folds * 2:
        errors["min_samples"] = [f"must be at least 2 x cv_folds ({cv_folds * 2})"]
    if sample_source(source) is None:
        errors["sample_source"] = [
            f"unknown sample source; registered: {', '.join(sample_source_names()) or 'none'}"
        ]
    unknown = sorted(set(sample_filter) - SAMPLE_FILTER_KEYS)
    if unknown:
        errors["sample_filter"] = [f"unknown keys: {', '.join(unknown)}"]
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def training_job_submit(
    *,
    tenant: Tenant,
    model_name: str,
    method: str,
    actor: Actor,
    model_type: str = "signal",
    cv_folds: int = 5,
    min_samples: int | None = None,
    sample_source: str = "signal_accuracy",
    sample_filter: dict[str, Any] | None = None,
    dispatch: bool = True,
    now: dt.datetime | None = None,
) -> TrainingJob:
    """Queue a training job and dispatch it to Celery after commit."""
    now = now or timezone.now()
    sample_filter = dict(sample_filter or {})
    if min_samples is None:
        min_samples = registry_config_for(tenant=tenant).min_samples_for_training
    _validate_job(
        method=method,
        cv_folds=cv_folds,
        min_samples=min_samples,
        source=sample_source,
        sample_filter=sample_filter,
    )
    model = calibrator_model_for(tenant=tenant, name=model_name, model_type=model_type)
    job = TrainingJob.objects.create(
        tenant=tenant,
        model=model,
        method=method,
        cv_folds=cv_folds,
        min_samples=min_samples,
        sample_source=sample_source,
        sample_filter=sample_filter,
        created_at=now,
        created_by_label=actor.label,
    )
    ledger_append(
        tenant=tenant,
        kind="calibrator.training_job_submitted",
        actor=actor,
        subject=job,
        payload={
            "model": model_name,
            "method": method,
            "cv_folds": cv_folds,
            "min_samples": min_samples,
            "sample_source": sample_source,
            "sample_filter": sample_filter,
        },
        now=now,
    )
    if dispatch:
        _dispatch_on_commit(job.pk)
    return job


def _dispatch_on_commit(job_id: int) -> None:
    from calibration.tasks.registry import run_training_job

    transaction.on_commit(lambda: run_training_job.delay(job_id), robust=True)


@transaction.atomic
def training_job_requeue(
    *, job: TrainingJob, actor: Actor, now: dt.datetime | None = None
) -> TrainingJob:
    now = now or timezone.now()
    job = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if not can_proceed(job.requeue):
        raise TransitionConflict(f"cannot retry a {job.state} job", current_state=job.state)
    job.requeue()
    job.append_log(f"{now.isoformat()} requeued by {actor.label}")
    job.save()
    ledger_append(
        tenant=job.tenant_id,
        kind="calibrator.training_job_requeued",
        actor=actor,
        subject=job,
        payload={},
        now=now,
    )
    _dispatch_on_commit(job.pk)
    return job


def training_lease() -> dt.timedelta:
    """A claim is a lease (``TRAINING_JOB_LEASE_SECONDS``, 45 s by default) that the training
    worker renews every third of it while it works: a job whose lease ran out has lost its
    worker (killed, hung, SIGSTOPped) and is claimed again by the next delivery or by the
    beat, which looks every minute. Lease plus one beat period keeps a dead worker's job
    waiting under 2 minutes."""
    return dt.timedelta(seconds=settings.TRAINING_JOB_LEASE_SECONDS)


def _lease_expired(now: dt.datetime) -> Q:
    # A RUNNING job without a lease was claimed before leases existed (migration 0007).
    return Q(state=TrainingJobState.RUNNING) & (
        Q(claimed_until__lt=now) | Q(claimed_until__isnull=True)
    )


def _claim(job_id: int, now: dt.datetime) -> bool:
    """Take the job for this worker: one conditional UPDATE, so of two deliveries of the same
    task exactly one sees a changed row. A RUNNING job whose lease ran out is taken again."""
    claimable = Q(state=TrainingJobState.QUEUED) | _lease_expired(now)
    return (
        TrainingJob.objects.filter(claimable, pk=job_id).update(
            state=TrainingJobState.RUNNING,
            started_at=now,
            claimed_until=now + training_lease(),
            attempts=F("attempts") + 1,
        )
        == 1
    )


def training_job_lease_renew(*, job_id: int, attempt: int, now: dt.datetime | None = None) -> bool:
    """Extend the lease of the claim numbered ``attempt``; False once the job is finished or
    another worker has claimed it again (this worker then lost it)."""
    now = now or timezone.now()
    return (
        TrainingJob.objects.filter(
            pk=job_id, state=TrainingJobState.RUNNING, attempts=attempt
        ).update(claimed_until=now + training_lease())
        == 1
    )


def training_job_leased_until(*, job_id: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the live lease on a RUNNING job runs out, or None when no live lease holds it."""
    now = now or timezone.now()
    return (
        TrainingJob.objects.filter(
            pk=job_id, state=TrainingJobState.RUNNING, claimed_until__gte=now
        )
        .values_list("claimed_until", flat=True)
        .first()
    )


@contextlib.contextmanager
def _lease_heartbeat(job_id: int, attempt: int) -> Iterator[None]:
    """Renew the lease from a side thread while the fit runs: one cross-validation can take
    longer than the lease, and a worker that is alive must not lose its job."""
    stop = threading.Event()
    every = training_lease().total_seconds() / 3

    def beat() -> None:
        try:
            while not stop.wait(every):
                try:
                    if not training_job_lease_renew(job_id=job_id, attempt=attempt):
                        return
                except Exception:  # a database blip: the next beat tries again
                    logger.warning("could not renew the lease of training job %s", job_id)
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=beat, name=f"lease-job-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def training_job_run(
    *, job_id: int, system: str = "celery", now: dt.datetime | None = None
) -> TrainingJob | None:
    """Run a queued job: claim, load the pairs, cross-validate, fit, and register a model
    version in DEVELOPMENT. Returns None when the job was not claimable (running under a live
    lease, done, or unknown). Safe to run twice."""
    now = now or timezone.now()
    actor = Actor.system(system)
    with transaction.atomic():
        if not _claim(job_id, now):
            return None
        job = TrainingJob.objects.select_related("model").get(pk=job_id)
        ledger_append(
            tenant=job.tenant_id,
            kind="calibrator.training_job_started",
            actor=actor,
            subject=job,
            payload={"attempt": job.attempts},
            now=now,
        )
    log: list[str] = [f"{now.isoformat()} attempt {job.attempts} started"]
    with _lease_heartbeat(job_id, job.attempts):
        return _train(job, log, actor, now)


def _train(job: TrainingJob, log: list[str], actor: Actor, now: dt.datetime) -> TrainingJob:
    job_id = job.pk
    try:
        source = sample_source(job.sample_source)
        if source is None:
            return _finish_failed(
                job, f"sample source {job.sample_source!r} is not registered", log, actor, now
            )
        started = time.perf_counter()
        confidences, labels = source(tenant_id=job.tenant_id, filters=job.sample_filter)
        confidences = np.asarray(confidences, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int8)
        samples = len(labels)
        log.append(f"loaded {samples} pairs in {time.perf_counter() - started:.3f}s")
        if samples < job.min_samples:
            return _finish_failed(
                job,
                f"too few samples: {samples} < min_samples {job.min_samples}",
                log,
                actor,
                now,
                samples=samples,
            )
        positives = int(labels.sum())
        if min(positives, samples - positives) < job.cv_folds:
            return _finish_failed(
                job,
                f"needs at least {job.cv_folds} wins and {job.cv_folds} losses "
                f"(got {positives} and {samples - positives})",
                log,
                actor,
                now,
                samples=samples,
            )
        started = time.perf_counter()
        metrics = calibrators.cross_validate(job.method, confidences, labels, job.cv_folds)
        log.append(
            f"{job.cv_folds}-fold cv in {time.perf_counter() - started:.3f}s: "
            f"brier {metrics['brier_score']:.5f} log_loss {metrics['log_loss']:.5f} "
            f"ece {metrics['ece']:.5f} (uncalibrated ece {metrics['uncalibrated']['ece']:.5f})"
        )
        started = time.perf_counter()
        parameters = calibrators.fit(job.method, confidences, labels)
        log.append(f"final fit on {samples} pairs in {time.perf_counter() - started:.3f}s")
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        return _finish_failed(job, f"{type(exc).__name__}: {exc}", log, actor, now)
    return _finish_succeeded(job, parameters, metrics, samples, log, actor, now)


def _current_claim(job: TrainingJob) -> TrainingJob:
    """``job`` when its claim is still the job's latest (locked to the end of the transaction),
    else the job as it stands: a worker whose lease ran out while it was stopped must not
    finish what a newer claim now owns."""
    latest = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if latest.state == TrainingJobState.RUNNING and latest.attempts == job.attempts:
        return job
    logger.warning(
        "training job %s: attempt %s lost its lease to attempt %s; its result is dropped",
        job.pk,
        job.attempts,
        latest.attempts,
    )
    return latest


@transaction.atomic
def _finish_succeeded(
    job: TrainingJob,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    samples: int,
    log: list[str],
    actor: Actor,
    now: dt.datetime,
) -> TrainingJob:
    current = _current_claim(job)
    if current is not job:
        return current
    model = CalibratorModel.objects.select_for_update().get(pk=job.model_id)
    model.last_version += 1
    model.save(update_fields=["last_version"])
    version = CalibratorVersion.objects.create(
        tenant_id=job.tenant_id,
        model=model,
        number=model.last_version,
        method=job.method,
        parameters=parameters,
        metrics=metrics,
        samples=samples,
        training_job=job,
        created_at=now,
    )
    job.succeed(samples=samples, metrics=metrics, now=now)
    log.append(f"registered {model.name} v{version.number} in DEVELOPMENT")
    for line in log:
        job.append_log(line)
    job.save()
    summary = {name: metrics[name] for name in ("brier_score", "log_loss", "ece")}
    ledger_append(
        tenant=job.tenant_id,
        kind="calibrator.training_job_succeeded",
        actor=actor,
        subject=job,
        payload={"samples": samples, "metrics": summary, "version": version.number},
        now=now,
    )
    ledger_append(
        tenant=job.tenant_id,
        kind="calibrator.version_registered",
        actor=actor,
        subject=version,
        payload={
            "model": model.name,
            "version": version.number,
            "method": job.method,
            "samples": samples,
            "metrics": summary,
            "training_job": job.pk,
            "stage": version.stage,
        },
        now=now,
    )
    return job


@transaction.atomic
def _finish_failed(
    job: TrainingJob,
    reason: str,
    log: list[str],
    actor: Actor,
    now: dt.datetime,
    samples: int | None = None,
) -> TrainingJob:
    current = _current_claim(job)
    if current is not job:
        return current
    job = TrainingJob.objects.get(pk=job.pk)
    job.fail(reason=reason, now=now, samples=samples)
    for line in [*log, f"failed: {reason}"]:
        job.append_log(line)
    job.save()
    ledger_append(
        tenant=job.tenant_id,
        kind="calibrator.training_job_failed",
        actor=actor,
        subject=job,
        payload={"reason": reason, "samples": samples},
        now=now,
    )
    return job


def training_jobs_dispatch_queued(
    *, older_than: dt.timedelta, now: dt.datetime | None = None
) -> int:
    """Re-dispatch jobs still QUEUED after ``older_than`` (a lost broker message, a broker
    that was down at submit time, a worker that died holding the message) and RUNNING jobs
    whose lease ran out (a worker that died training). Claiming makes a duplicate delivery
    harmless."""
    from calibration.tasks.registry import run_training_job

    now = now or timezone.now()
    stale = Q(state=TrainingJobState.QUEUED, created_at__lt=now - older_than) | _lease_expired(now)
    ids = list(TrainingJob.objects.filter(stale).values_list("pk", flat=True)[:1000])
    for job_id in ids:
        run_training_job.delay(job_id)
    return len(ids)


# --- evaluation and promotion ---------------------------------------------------------------


def _finite_metrics(field: str, values: Any, *, required: bool) -> dict[str, float]:
    if values is None and not required:
        return {}
    if not isinstance(values, dict) or (required and not values):
        raise ValidationFailed({field: ["must be a non-empty object of metric -> number"]})
    out: dict[str, float] = {}
    for name, value in values.items():
        if (
            not isinstance(name, str)
            or not name
            or len(name) > 64
            or "\x00" in name
            or isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValidationFailed({field: [f"{name}: must be a finite number"]})
        out[name] = float(value)
    return out


def evaluation_verdict(
    *,
    metrics: dict[str, float],
    thresholds: dict[str, float],
    baseline: dict[str, float],
    benchmark_threshold: float,
) -> tuple[bool, dict[str, Any]]:
    """Pure: each thresholded metric passes when it is on the good side of its threshold (and
    of the benchmark share of the baseline, when a baseline value is given)."""
    results: dict[str, Any] = {}
    for name, threshold in thresholds.items():
        lower = calibrators.lower_is_better(name)
        value = metrics.get(name)
        verdict: dict[str, Any] = {
            "value": value,
            "threshold": threshold,
            "direction": "lower_is_better" if lower else "higher_is_better",
        }
        if value is None:
            verdict.update(passed=False, reason="metric missing")
        else:
            ok = value <= threshold if lower else value >= threshold
            if ok and name in baseline:
                limit = (
                    baseline[name] / benchmark_threshold
                    if lower
                    else baseline[name] * benchmark_threshold
                )
                verdict["baseline_limit"] = limit
                ok = value <= limit if lower else value >= limit
                if not ok:
                    verdict["reason"] = "worse than the baseline allows"
            elif not ok:
                verdict["reason"] = "beyond threshold"
            verdict["passed"] = ok
        results[name] = verdict
    return all(v["passed"] for v in results.values()), results


@transaction.atomic
def calibrator_evaluate(
    *,
    version: CalibratorVersion,
    benchmark_name: str,
    metrics: dict[str, float],
    thresholds: dict[str, float],
    actor: Actor,
    baseline: dict[str, float] | None = None,
    now: dt.datetime | None = None,
) -> CalibratorEvaluation:
    now = now or timezone.now()
    metrics = _finite_metrics("metrics", metrics, required=True)
    thresholds = _finite_metrics("thresholds", thresholds, required=True)
    baseline = _finite_metrics("baseline", baseline, required=False)
    if not benchmark_name or len(benchmark_name) > 100:
        raise ValidationFailed({"benchmark_name": ["required, at most 100 characters"]})
    version = CalibratorVersion.objects.select_related("model").get(pk=version.pk)
    if version.stage == ModelStage.ARCHIVED:
        raise TransitionConflict(
            "an archived version cannot be evaluated", current_state=version.stage
        )
    config = registry_config_for(tenant=version.tenant_id)
    passed, results = evaluation_verdict(
        metrics=metrics,
        thresholds=thresholds,
        baseline=baseline,
        benchmark_threshold=config.eval_benchmark_threshold,
    )
    evaluation = CalibratorEvaluation.objects.create(
        tenant_id=version.tenant_id,
        version=version,
        benchmark_name=benchmark_name,
        metrics=metrics,
        thresholds=thresholds,
        baseline=baseline,
        results=results,
        passed=passed,
        created_at=now,
        created_by_label=actor.label,
    )
    ledger_append(
        tenant=version.tenant_id,
        kind="calibrator.evaluated",
        actor=actor,
        subject=version,
        payload={
            "evaluation": evaluation.pk,
            "benchmark": benchmark_name,
            "passed": passed,
            "metrics": metrics,
            "thresholds": thresholds,
        },
        now=now,
    )
    return evaluation


@transaction.atomic
def calibrator_promote(
    *,
    version: CalibratorVersion,
    target_stage: str,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> CalibratorVersion:
    """Move a version to STAGING or PRODUCTION. PRODUCTION is a human act, needs a passed
    latest evaluation when the tenant requires it, and archives the previous production
    version of the model in the same transaction."""
    now = now or timezone.now()
    if target_stage not in (ModelStage.STAGING, ModelStage.PRODUCTION):
        raise ValidationFailed({"target_stage": ["must be STAGING or PRODUCTION"]})
    # The model row serializes promotions of its versions.
    model = CalibratorModel.objects.select_for_update().get(pk=version.model_id)
    version = CalibratorVersion.objects.select_related("model").get(pk=version.pk)
    source_stage = version.stage
    if target_stage == ModelStage.STAGING:
        return govern_transition(
            obj=version,
            transition="to_staging",
            kind=LedgerKind.CALIBRATOR_VERSION_PROMOTED,
            what="stage",
            human=False,
            actor=actor,
            reason=reason,
            kwargs={"now": now},
            payload=_promotion_payload(version, source_stage, ModelStage.STAGING),
            now=now,
        )
    human = require_human_actor(
        actor=actor, tenant_id=version.tenant_id, reason=reason, what="promotion to PRODUCTION"
    )
    if can_proceed(version.to_production, check_conditions=False) and not can_proceed(
        version.to_production
    ):
        latest = version.latest_evaluation()
        why = "it has no evaluation" if latest is None else "its latest evaluation failed"
        raise EvaluationGateClosed(
            f"{version} cannot go to PRODUCTION: {why} (require_eval_pass)",
            current_state=version.stage,
        )
    previous = (
        CalibratorVersion.objects.filter(model=model, stage=ModelStage.PRODUCTION)
        .exclude(pk=version.pk)
        .first()
    )

    def archive_previous(row: CalibratorVersion) -> None:
        # Archived first, so the model never has two PRODUCTION versions at any point.
        if previous is not None:
            govern_transition(
                obj=previous,
                transition="archive",
                kind=LedgerKind.CALIBRATOR_VERSION_ARCHIVED,
                what="archive",
                human=False,
                actor=human,
                kwargs={"now": now},
                payload={"reason": f"superseded by v{row.number}", "from": "PRODUCTION"},
                now=now,
            )

    return govern_transition(
        obj=version,
        transition="to_production",
        kind=LedgerKind.CALIBRATOR_VERSION_PROMOTED,
        what="promote",
        human=False,
        actor=human,
        reason=reason,
        kwargs={"now": now},
        before_transition=archive_previous,
        payload={
            **_promotion_payload(version, source_stage, ModelStage.PRODUCTION),
            "archived": previous.number if previous else None,
        },
        now=now,
    )


def _promotion_payload(version: CalibratorVersion, source: str, target: str) -> dict[str, Any]:
    latest = version.latest_evaluation()
    return {
        "model": version.model.name,
        "version": version.number,
        "from": source,
        "to": target,
        "evaluation": latest.pk if latest else None,
    }


@transaction.atomic
def calibrator_archive(
    *,
    version: CalibratorVersion,
    actor: Actor,
    reason: str = "",
    now: dt.datetime | None = None,
) -> CalibratorVersion:
    now = now or timezone.now()
    CalibratorModel.objects.select_for_update().get(pk=version.model_id)
    version = CalibratorVersion.objects.select_related("model").get(pk=version.pk)
    if version.stage == ModelStage.PRODUCTION:
        actor = require_human_actor(
            actor=actor,
            tenant_id=version.tenant_id,
            reason=reason,
            what="archiving the PRODUCTION version",
        )
    return govern_transition(
        obj=version,
        transition="archive",
        kind=LedgerKind.CALIBRATOR_VERSION_ARCHIVED,
        what="archive",
        human=False,
        actor=actor,
        reason=reason,
        kwargs={"now": now},
        payload={"from": version.stage},
        now=now,
    )


# --- runtime reads --------------------------------------------------------------------------


def production_version(*, tenant_id: int, model_name: str) -> CalibratorVersion | None:
    return (
        CalibratorVersion.objects.select_related("model")
        .filter(tenant_id=tenant_id, model__name=model_name, stage=ModelStage.PRODUCTION)
        .first()
    )


def calibrator_apply(
    *, tenant_id: int, model_name: str, confidences: np.ndarray | list[float]
) -> tuple[CalibratorVersion, np.ndarray]:
    """Calibrated probabilities from the model's PRODUCTION version (vectorised)."""
    version = production_version(tenant_id=tenant_id, model_name=model_name)
    if version is None:
        raise NotFound(f"{model_name} has no PRODUCTION version")
    values = np.asarray(confidences, dtype=np.float64)
    return version, calibrators.apply(version.method, version.parameters, values)


def calibrator_live_metrics(
    *,
    tenant_id: int,
    model_name: str,
    since: dt.datetime,
    min_samples: int,
) -> dict[str, float] | None:
    """Metrics of the PRODUCTION calibrator on pairs recorded since ``since`` (for drift
    checks); None when there is no production version or too few pairs."""
    version = production_version(tenant_id=tenant_id, model_name=model_name)
    if version is None:
        return None
    source_name = (
        version.training_job.sample_source if version.training_job_id else "signal_accuracy"
    )
    source = sample_source(source_name)
    if source is None:
        return None
    filters = dict(version.training_job.sample_filter) if version.training_job_id else {}
    filters.pop("until", None)
    filters["since"] = since.isoformat()
    confidences, labels = source(tenant_id=tenant_id, filters=filters)
    if len(labels) < max(min_samples, 1):
        return None
    probabilities = calibrators.apply(version.method, version.parameters, confidences)
    return {**calibrators.scores(probabilities, np.asarray(labels)), "samples": float(len(labels))}


def registry_stats(*, tenant_id: int) -> dict[str, int]:
    """The registry's part of the seed's stats keys, plus every registered counter."""
    versions = CalibratorVersion.objects.filter(tenant_id=tenant_id).aggregate(
        model_versions=Count("pk"),
        production_models=Count("pk", filter=Q(stage=ModelStage.PRODUCTION)),
    )
    stats = {
        "training_jobs": TrainingJob.objects.filter(tenant_id=tenant_id).count(),
        "model_versions": versions["model_versions"],
        "production_models": versions["production_models"],
        "evaluations": CalibratorEvaluation.objects.filter(tenant_id=tenant_id).count(),
    }
    for name, fn in counters().items():
        stats[name] = int(fn(tenant_id=tenant_id))
    return stats
