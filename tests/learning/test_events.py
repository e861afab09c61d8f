"""Learning events: ingestion, collection switches, queries, stats, retention, training from
events, and the confidence-filter report (seed 004)."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from django.core.management import call_command

from calibration.models import ModelStage, TrainingJobState
from calibration.services import registry as registry_services
from governance.errors import ValidationFailed
from governance.models import LedgerEntry
from governance.services.ledger import Actor
from learning.models import LearningEvent
from learning.services import events as services
from tests.factories.events import SOURCE, T0, record_trades, signal_pairs, trades
from tests.factories.settings import arrange_setting
from tripwire.services import drift as drift_services

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def _event(**overrides):
    return {
        "event_type": "SIGNAL_ACCURACY",
        "source_engine": SOURCE,
        "symbol": "AAPL",
        "timestamp": "2024-03-01T15:00:00Z",
        "payload": {"return_pct": 1.5, "win": True, "confidence_used": 0.83},
        "outcome": 1.5,
        **overrides,
    }


@pytest.mark.django_db
def test_a_batch_is_stored_with_typed_confidence_and_win(tenant):
    result = services.events_record(
        tenant=tenant,
        items=[_event(), _event(payload={"confidence_used": 0.4}, outcome=-2.0)],
        now=NOW,
    )

    assert result.as_dict() == {"received": 2, "stored": 2, "duplicates": 0}
    rows = list(LearningEvent.objects.order_by("outcome").values_list("confidence", "win"))
    assert rows == [(0.4, False), (0.83, True)]
    assert LearningEvent.objects.filter(subject="AAPL", event_type="signal_accuracy").count() == 2


@pytest.mark.django_db
def test_a_repeated_event_id_is_stored_once(tenant):
    services.events_record(tenant=tenant, items=[_event(event_id="e-1")])

    again = services.events_record(
        tenant=tenant,
        items=[_event(event_id="e-1"), _event(event_id="e-2"), _event(event_id="e-2")],
    )

    assert again.as_dict() == {"received": 3, "stored": 1, "duplicates": 2}
    assert LearningEvent.objects.count() == 2


@pytest.mark.django_db
def test_one_bad_event_stores_nothing_and_is_named(tenant):
    with pytest.raises(ValidationFailed) as caught:
        services.events_record(
            tenant=tenant,
            items=[_event(), _event(payload={"confidence_used": 1.7}), _event(colour="red")],
        )

    errors = caught.value.errors["events"]
    assert set(errors) == {"1", "2"}
    assert "confidence" in errors["1"]["payload"][0]
    assert errors["2"] == {"colour": ["unknown field"]}
    assert not LearningEvent.objects.exists()


@pytest.mark.django_db
def test_an_event_of_a_switched_off_family_is_refused_with_the_reason(tenant):
    arrange_setting(
        tenant=tenant, setting="learning_config", target="engine", collect_executions=False
    )

    with pytest.raises(ValidationFailed) as caught:
        services.events_record(tenant=tenant, items=[_event(event_type="ORDER_FILLED")])
    stored = services.events_record(tenant=tenant, items=[_event(event_type="RISK_BREACH")])

    assert caught.value.errors["events"]["0"]["event_type"] == [
        "order_filled events are not collected for this tenant (collect_executions is off)"
    ]
    assert stored.stored == 1


@pytest.mark.django_db
def test_queries_filter_by_type_source_subject_and_time(tenant):
    record_trades(tenant, trades(40))
    other = dict(_event(source_engine="live", symbol="TSLA", timestamp="2024-01-02T15:00:00Z"))
    services.events_record(tenant=tenant, items=[other])

    by_type = services.events_query(tenant_id=tenant.pk, event_type="SIGNAL_GENERATED", limit=1000)
    by_source = services.events_query(tenant_id=tenant.pk, source_engine="live")
    by_subject = services.events_query(tenant_id=tenant.pk, subject="TSLA")
    window = services.events_query(
        tenant_id=tenant.pk,
        start=T0,
        end=T0 + dt.timedelta(hours=10),
        limit=5,
    )

    assert len(by_type) == 40 and {e.event_type for e in by_type} == {"signal_generated"}
    assert [e.source_engine for e in by_source] == ["live"]
    assert [e.subject for e in by_subject] == ["TSLA"]
    timestamps = [e.timestamp for e in window]
    assert len(timestamps) == 5 and timestamps == sorted(timestamps, reverse=True)
    assert all(T0 <= t < T0 + dt.timedelta(hours=10) for t in timestamps)


@pytest.mark.django_db
def test_stats_after_1000_trades_have_the_seeds_shape(tenant):
    record_trades(tenant, trades(1000))
    services.confidence_filter_report(tenant=tenant, threshold=0.8, actor=Actor.system("test"))

    stats = services.learning_stats(tenant_id=tenant.pk)

    assert stats == {
        "events_buffered": 2001,
        "events_by_type": {"metric_recorded": 1, "signal_accuracy": 1000, "signal_generated": 1000},
        "training_jobs": 0,
        "model_versions": 0,
        "production_models": 0,
        "evaluations": 0,
        "drift_alerts": 0,
    }


@pytest.mark.django_db
def test_the_seed_loop_from_events_to_production_and_drift(tenant, reviewer):
    """Trades -> events -> training job -> evaluation -> promotion -> drift, as in seed 004."""
    record_trades(tenant, trades(1500, overconfident=True))
    job = registry_services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        model_type="signal",
        method="platt_scaling",
        cv_folds=5,
        min_samples=500,
        actor=Actor.system("engine"),
        dispatch=False,
    )
    registry_services.training_job_run(job_id=job.pk)
    job.refresh_from_db()
    version = job.model_version
    evaluation = registry_services.calibrator_evaluate(
        version=version,
        benchmark_name="validation_set",
        metrics={"brier_score": 0.08, "log_loss": 0.25},
        thresholds={"brier_score": 0.12, "log_loss": 0.30},
        actor=Actor.system("engine"),
    )
    registry_services.calibrator_promote(
        version=version, target_stage="PRODUCTION", actor=Actor.for_user(reviewer), reason="passed"
    )
    drift_services.drift_set_baseline(
        tenant=tenant,
        model_name="confidence_calibrator",
        metrics={"accuracy": 0.82, "precision": 0.79},
        actor=Actor.system("engine"),
    )
    quiet = drift_services.drift_check(
        tenant=tenant,
        model_name="confidence_calibrator",
        current={"accuracy": 0.75, "precision": 0.72},
        actor=Actor.system("engine"),
    )
    loud = drift_services.drift_check(
        tenant=tenant,
        model_name="confidence_calibrator",
        current={"accuracy": 0.70},
        actor=Actor.system("engine"),
    )

    assert job.state == TrainingJobState.SUCCEEDED and job.samples == 1500
    assert evaluation.passed
    version.refresh_from_db()
    assert version.stage == ModelStage.PRODUCTION
    assert (len(quiet.alerts), len(loud.alerts)) == (0, 1)
    stats = services.learning_stats(tenant_id=tenant.pk)
    assert {k: stats[k] for k in list(stats)[2:]} == {
        "training_jobs": 1,
        "model_versions": 1,
        "production_models": 1,
        "evaluations": 1,
        "drift_alerts": 1,
    }


@pytest.mark.django_db
def test_training_from_events_matches_the_stored_pairs(tenant):
    rows = trades(600, seed=9)
    record_trades(tenant, rows)

    confidences, wins = services.signal_accuracy_pairs(tenant_id=tenant.pk, filters={})
    only_aapl, _ = services.signal_accuracy_pairs(tenant_id=tenant.pk, filters={"subject": "AAPL"})

    order = np.argsort(confidences)
    expected = sorted((t["confidence"], int(t["win"])) for t in rows)
    assert list(zip(confidences[order].tolist(), wins[order].tolist(), strict=True)) == expected
    assert len(only_aapl) == 150


@pytest.mark.django_db
def test_the_confidence_filter_report_compares_baseline_and_filtered(tenant):
    rows = [
        {"confidence": 0.9, "win": True, "return_pct": 3.0},
        {"confidence": 0.85, "win": True, "return_pct": 1.0},
        {"confidence": 0.82, "win": False, "return_pct": -1.0},
        {"confidence": 0.5, "win": False, "return_pct": -2.0},
        {"confidence": 0.3, "win": False, "return_pct": -1.0},
        {"confidence": 0.6, "win": True, "return_pct": 0.5},
    ]
    services.events_record(
        tenant=tenant,
        items=[
            _event(
                payload={"confidence_used": r["confidence"], "win": r["win"]},
                outcome=r["return_pct"],
            )
            for r in rows
        ],
    )

    report = services.confidence_filter_report(
        tenant=tenant, threshold=0.8, actor=Actor.system("test"), now=NOW
    )

    baseline, filtered = report["baseline"], report["filtered"]
    assert (baseline["trades"], filtered["trades"]) == (6, 3)
    assert baseline["win_rate"] == pytest.approx(0.5)
    assert filtered["win_rate"] == pytest.approx(2 / 3)
    assert baseline["profit_factor"] == pytest.approx(4.5 / 4.0)
    assert filtered["profit_factor"] == pytest.approx(4.0)
    returns = np.array([3.0, 1.0, -1.0])
    assert filtered["sharpe_ratio"] == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert report["improvement"]["win_rate_change_pct"] == pytest.approx(100 * (2 / 3 - 0.5))
    recorded = LearningEvent.objects.get(event_type="metric_recorded")
    assert recorded.payload["applied_threshold"] == 0.8
    assert recorded.payload["confidence_key"] == "confidence_used"
    assert LedgerEntry.objects.filter(kind="learning.confidence_filter_report").exists()


@pytest.mark.django_db
def test_the_calibrated_report_uses_the_production_calibrator(tenant, reviewer):
    record_trades(tenant, trades(800, overconfident=True))
    job = registry_services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="isotonic",
        min_samples=500,
        actor=Actor.system("test"),
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

    raw = services.confidence_filter_report(tenant=tenant, threshold=0.8, actor=Actor.system("t"))
    calibrated = services.confidence_filter_report(
        tenant=tenant, threshold=0.6, actor=Actor.system("t"), use_calibration=True
    )

    assert calibrated["calibrator"] == {
        "model": "confidence_calibrator",
        "version": 1,
        "method": "isotonic",
    }
    assert calibrated["confidence_key"] == "calibrated_confidence"
    # Over-confident raw 0.8 signals are calibrated to about 0.62, so few pass 0.6 raw...
    assert raw["filtered"]["trades"] > 0
    assert calibrated["filtered"]["trades"] > 0


@pytest.mark.django_db
def test_the_report_command_prints_and_records(tenant):
    record_trades(tenant, trades(100))
    out = io.StringIO()

    call_command(
        "confidence_filter_report", "--tenant", tenant.slug, "--threshold", "0.7", stdout=out
    )

    assert '"applied_threshold": 0.7' in out.getvalue()
    assert LearningEvent.objects.filter(event_type="metric_recorded").count() == 1


@pytest.mark.django_db
def test_retention_prunes_only_what_is_past_it_and_only_once(tenant, other_tenant):
    arrange_setting(tenant=tenant, setting="learning_config", target="engine", retention_days=30)
    services.events_record(tenant=tenant, items=[_event()], now=NOW - dt.timedelta(days=31))
    services.events_record(tenant=tenant, items=[_event()], now=NOW - dt.timedelta(days=29))
    services.events_record(tenant=other_tenant, items=[_event()], now=NOW - dt.timedelta(days=31))

    first = services.learning_events_prune(now=NOW)
    second = services.learning_events_prune(now=NOW)

    assert first == {tenant.pk: 1}
    assert second == {}
    assert LearningEvent.objects.filter(tenant=tenant).count() == 1
    assert LearningEvent.objects.filter(tenant=other_tenant).count() == 1


@pytest.mark.django_db
def test_the_engine_config_has_the_seeds_settings(tenant):
    values = services.learning_config_values(tenant=tenant)

    assert {k: values[k] for k in values if k != "retention_days"} == {
        "engine_id": "learning",
        "engine_name": "Learning Engine",
        "max_events_memory": 20000,
        "collect_signals": True,
        "collect_executions": True,
        "collect_portfolio": True,
        "collect_risk": True,
        "collect_predictions": True,
        "min_samples_for_training": 1000,
        "training_batch_size": 256,
        "require_eval_pass": True,
        "eval_benchmark_threshold": 0.95,
        "enable_drift_detection": True,
        "drift_threshold_pct": 0.10,
    }


@pytest.mark.django_db
def test_query_limit_is_capped_by_max_events_memory(tenant):
    services.learning_config_update(
        tenant=tenant, actor=Actor.system("test"), changes={"max_events_memory": 3}
    )
    confidences, wins = signal_pairs(10)
    services.events_record(
        tenant=tenant,
        items=[
            _event(payload={"confidence_used": float(c), "win": bool(w)})
            for c, w in zip(confidences, wins, strict=True)
        ],
    )

    assert len(services.events_query(tenant_id=tenant.pk, limit=100)) == 3


@pytest.mark.django_db
def test_the_prune_task_runs_the_retention(tenant):
    from learning.tasks.events import prune_learning_events

    services.events_record(tenant=tenant, items=[_event()], now=NOW - dt.timedelta(days=400))

    assert prune_learning_events.apply().get() == {tenant.pk: 1}
    assert not LearningEvent.objects.exists()


@pytest.mark.django_db
def test_the_report_and_training_pairs_honour_the_time_range(tenant):
    rows = trades(48)  # exits hourly from T0 + 3 days
    record_trades(tenant, rows)
    since = T0 + dt.timedelta(days=3, hours=24)

    report = services.confidence_filter_report(
        tenant=tenant, threshold=0.5, actor=Actor.system("t"), since=since
    )
    confidences, _ = services.signal_accuracy_pairs(
        tenant_id=tenant.pk, filters={"until": since.isoformat()}
    )

    assert report["baseline"]["trades"] == 24
    assert len(confidences) == 24
