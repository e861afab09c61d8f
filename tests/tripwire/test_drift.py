"""Model metric drift: baselines, the relative-change rule, alerts and their checkpoints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from calibration.registry_sources import register_sample_source
from calibration.services import registry as registry_services
from governance.errors import Forbidden, NotFound, TransitionConflict
from governance.models import Checkpoint, CheckpointPriority, CheckpointState
from governance.services.ledger import Actor
from tests.factories.events import signal_pairs
from tests.factories.settings import arrange_setting
from tripwire.models import DriftAlert, DriftAlertState
from tripwire.services import drift as services

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
SEED_BASELINE = {"accuracy": 0.82, "precision": 0.79}


@pytest.fixture
def baseline(tenant):
    return services.drift_set_baseline(
        tenant=tenant,
        model_name="confidence_calibrator",
        metrics=SEED_BASELINE,
        actor=Actor.system("test"),
        now=NOW,
    ).applied


def _check(tenant, current, **kwargs):
    return services.drift_check(
        tenant=tenant,
        model_name="confidence_calibrator",
        current=current,
        actor=Actor.system("test"),
        now=kwargs.pop("now", NOW),
    )


@pytest.mark.django_db
def test_accuracy_falling_from_082_to_070_raises_an_alert(tenant, baseline):
    result = _check(tenant, {"accuracy": 0.70})

    assert [alert.metric for alert in result.alerts] == ["accuracy"]
    alert = result.alerts[0]
    assert alert.change_pct == pytest.approx(-0.1463, abs=1e-4)
    assert alert.threshold_pct == 0.10
    checkpoint = Checkpoint.objects.get(checkpoint_type="drift_alert")
    assert checkpoint.priority == CheckpointPriority.HIGH
    assert checkpoint.subject_id == str(alert.pk)


@pytest.mark.django_db
def test_the_seeds_example_of_85_percent_does_not_exceed_ten_percent(tenant, baseline):
    result = _check(tenant, {"accuracy": 0.75, "precision": 0.72})

    assert result.alerts == []
    changes = {c.metric: c for c in result.changes}
    assert changes["accuracy"].change_pct == pytest.approx(-0.0854, abs=1e-4)
    assert changes["precision"].change_pct == pytest.approx(-0.0886, abs=1e-4)
    assert not any(c.exceeded for c in result.changes)
    assert not DriftAlert.objects.exists()


@pytest.mark.parametrize(
    ("current", "exceeded"),
    [
        pytest.param(0.72, False, id="exactly-10pct-down-is-not-more-than-10pct"),
        pytest.param(0.7199, True, id="just-past-10pct-down"),
        pytest.param(0.88, False, id="exactly-10pct-up"),
        pytest.param(0.8801, True, id="just-past-10pct-up"),
    ],
)
def test_the_rule_is_a_strictly_greater_relative_change(current, exceeded):
    (change,) = services.metric_changes(
        baseline={"accuracy": 0.80}, current={"accuracy": current}, threshold_pct=0.10
    )
    assert change.exceeded is exceeded


def test_a_zero_baseline_is_not_comparable():
    (change,) = services.metric_changes(
        baseline={"ece": 0.0}, current={"ece": 0.3}, threshold_pct=0.10
    )
    assert (change.change_pct, change.exceeded) == (None, False)


@pytest.mark.django_db
def test_an_open_alert_is_not_raised_again(tenant, baseline):
    _check(tenant, {"accuracy": 0.70})
    again = _check(tenant, {"accuracy": 0.60})

    assert again.alerts == []
    assert DriftAlert.objects.count() == 1


@pytest.mark.django_db
def test_acknowledging_resolves_the_checkpoint_and_rearms_the_metric(tenant, baseline, reviewer):
    (alert,) = _check(tenant, {"accuracy": 0.70}).alerts

    services.drift_alert_acknowledge(alert=alert, user=reviewer, reason="retraining", now=NOW)
    later = _check(tenant, {"accuracy": 0.69}, now=NOW + dt.timedelta(hours=1))

    alert.refresh_from_db()
    assert alert.state == DriftAlertState.ACKNOWLEDGED
    assert alert.acknowledged_by == reviewer
    assert Checkpoint.objects.filter(state=CheckpointState.APPROVED).count() == 1
    assert len(later.alerts) == 1


@pytest.mark.django_db
def test_acknowledging_twice_is_a_conflict_and_machines_cannot(tenant, baseline, reviewer):
    (alert,) = _check(tenant, {"accuracy": 0.70}).alerts
    services.drift_alert_acknowledge(alert=alert, user=reviewer, reason="seen")

    with pytest.raises(TransitionConflict):
        services.drift_alert_acknowledge(alert=alert, user=reviewer, reason="again")
    with pytest.raises(Forbidden):
        services.drift_alert_acknowledge(alert=alert, user=None, reason="bot")


@pytest.mark.django_db
def test_a_per_model_threshold_overrides_the_tenants(tenant):
    services.drift_set_baseline(
        tenant=tenant,
        model_name="confidence_calibrator",
        metrics=SEED_BASELINE,
        threshold_pct=0.05,
        actor=Actor.system("test"),
    )

    result = _check(tenant, {"accuracy": 0.75})

    assert [a.metric for a in result.alerts] == ["accuracy"]


@pytest.mark.django_db
def test_disabled_drift_detection_raises_nothing(tenant, baseline):
    arrange_setting(
        tenant=tenant,
        setting="calibrator_registry_config",
        target="registry",
        enable_drift_detection=False,
    )

    result = _check(tenant, {"accuracy": 0.5})

    assert (result.enabled, result.alerts) == (False, [])


@pytest.mark.django_db
def test_checking_a_model_without_a_baseline_is_not_found(tenant):
    with pytest.raises(NotFound):
        _check(tenant, {"accuracy": 0.5})


_LIVE: dict[str, tuple[np.ndarray, np.ndarray]] = {}
register_sample_source("drift_live", lambda *, tenant_id, filters: _LIVE["pairs"])


@pytest.mark.django_db
def test_the_beat_check_measures_production_calibrators(tenant, reviewer):
    _LIVE["pairs"] = signal_pairs(2000, seed=3)
    job = registry_services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="platt_scaling",
        actor=Actor.system("test"),
        sample_source="drift_live",
        min_samples=500,
        dispatch=False,
    )
    version = registry_services.training_job_run(job_id=job.pk).model_version
    arrange_setting(
        tenant=tenant,
        setting="calibrator_registry_config",
        target="registry",
        require_eval_pass=False,
    )
    registry_services.calibrator_promote(
        version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="passed"
    )
    services.drift_set_baseline(
        tenant=tenant,
        model_name="confidence_calibrator",
        metrics={"brier_score": 0.18, "accuracy": 0.99},
        actor=Actor.system("test"),
    )

    first = services.drift_check_production_models(now=NOW)
    second = services.drift_check_production_models(now=NOW)

    assert first == {"checked": 1, "skipped": 0, "alerts": 1}
    assert second == {"checked": 1, "skipped": 0, "alerts": 0}
    alert = DriftAlert.objects.get()
    assert alert.metric == "accuracy"
    _LIVE.clear()


@pytest.mark.django_db
def test_the_beat_task_skips_models_without_a_production_version(tenant, baseline):
    from tripwire.tasks.drift import check_production_drift

    assert check_production_drift.apply().get() == {"checked": 0, "skipped": 0, "alerts": 0}
