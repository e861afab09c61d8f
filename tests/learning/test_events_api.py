"""The learning events API: ingestion, queries, stats, settings and the report."""

from __future__ import annotations

import pytest

from learning.models import LearningEvent
from tests.factories.events import record_trades, trade_events, trades
from tests.factories.settings import arrange_setting


@pytest.mark.django_db
def test_a_batch_is_stored_all_or_nothing(api):
    events = trade_events(trades(5))

    ok = api.post("/api/learning/events/batch", {"events": events}, format="json")
    events[3]["payload"]["win"] = "yes"
    bad = api.post("/api/learning/events/batch", {"events": events}, format="json")

    assert ok.status_code == 201
    assert ok.json() == {"received": 10, "stored": 10, "duplicates": 0}
    assert bad.status_code == 400
    assert bad.json()["events"]["3"]["payload"] == ["win must be a boolean"]
    assert LearningEvent.objects.count() == 10


@pytest.mark.django_db
def test_a_repeated_batch_with_event_ids_stores_nothing_twice(api):
    events = trade_events(trades(3))
    api.post("/api/learning/events/batch", {"events": events}, format="json")

    again = api.post("/api/learning/events/batch", {"events": events}, format="json")

    assert again.json() == {"received": 6, "stored": 0, "duplicates": 6}


@pytest.mark.django_db
def test_a_single_event_errors_are_field_by_field(api):
    response = api.post(
        "/api/learning/events",
        {"event_type": "SIGNAL_ACCURACY", "source_engine": "x", "note": "free text"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"note": ["unknown field"]}


@pytest.mark.django_db
def test_a_batch_over_10000_is_refused(api):
    event = {"event_type": "metric_recorded", "source_engine": "x"}

    response = api.post("/api/learning/events/batch", {"events": [event] * 10_001}, format="json")

    assert response.status_code == 400
    assert response.json() == {"events": ["at most 10000 items per batch"]}


@pytest.mark.django_db
def test_queries_and_stats(api, tenant):
    record_trades(tenant, trades(20))

    page = api.get(
        "/api/learning/events",
        {"event_type": "SIGNAL_ACCURACY", "subject": "AAPL", "limit": 3},
    )
    stats = api.get("/api/learning/stats")
    bad = api.get("/api/learning/events", {"limit": 0, "colour": "red"})

    assert page.status_code == 200
    body = page.json()
    assert body["count"] == 3
    assert {e["event_type"] for e in body["results"]} == {"signal_accuracy"}
    assert {e["subject"] for e in body["results"]} == {"AAPL"}
    assert stats.json()["events_by_type"] == {"signal_accuracy": 20, "signal_generated": 20}
    assert list(stats.json()) == [
        "events_buffered",
        "events_by_type",
        "training_jobs",
        "model_versions",
        "production_models",
        "evaluations",
        "drift_alerts",
    ]
    assert bad.status_code == 400


@pytest.mark.django_db
def test_another_tenants_events_are_invisible(api, other_tenant):
    record_trades(other_tenant, trades(5))

    assert api.get("/api/learning/events").json()["count"] == 0
    assert api.get("/api/learning/stats").json()["events_buffered"] == 0


@pytest.mark.django_db
def test_switching_collection_off_is_requested_and_applies_once_a_second_reviewer_approves(
    api, api_as, second_reviewer
):
    assert api.get("/api/learning/config").json()["collect_signals"] is True
    body = {"collect_signals": False, "reason": "signals are noise this week"}
    requested = api.patch("/api/learning/config", body, format="json")
    event = trade_events(trades(1))[0]
    still_collected = api.post("/api/learning/events", event, format="json")
    change_id = requested.json()["change_requests"][0]["id"]
    approved = api_as(second_reviewer).post(
        f"/api/governance/settings-changes/{change_id}/approve/", {"reason": "agreed"}
    )
    blocked = api.post("/api/learning/events", event, format="json")

    assert requested.status_code == 202
    assert requested.json()["config"]["collect_signals"] is True
    assert still_collected.status_code == 201
    assert approved.status_code == 200 and approved.json()["state"] == "APPLIED"
    assert api.get("/api/learning/config").json()["collect_signals"] is False
    assert blocked.status_code == 400
    assert "collect_signals is off" in blocked.json()["event_type"][0]


@pytest.mark.django_db
def test_a_machine_may_switch_collection_back_on_at_once(api, tenant):
    arrange_setting(tenant=tenant, setting="learning_config", target="engine", collect_risk=False)

    response = api.patch("/api/learning/config", {"collect_risk": True}, format="json")

    assert response.status_code == 200 and response.json()["collect_risk"] is True


@pytest.mark.django_db
def test_the_report_endpoint_records_a_metric_event(api, tenant):
    record_trades(tenant, trades(50))

    response = api.post(
        "/api/learning/reports/confidence-filter", {"threshold": 0.8}, format="json"
    )
    no_calibrator = api.post(
        "/api/learning/reports/confidence-filter",
        {"threshold": 0.8, "use_calibration": True},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["baseline"]["trades"] == 50
    assert set(response.json()["improvement"]) == {
        "win_rate_change_pct",
        "sharpe_ratio_change",
        "profit_factor_change",
    }
    assert no_calibrator.status_code == 404
    assert LearningEvent.objects.filter(event_type="metric_recorded").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_nul_character_is_a_400_not_a_500(api):
    in_payload = api.post(
        "/api/learning/events",
        {"event_type": "risk_breach", "source_engine": "x", "payload": {"note": "a\u0000b"}},
        format="json",
    )
    in_source = api.post(
        "/api/learning/events",
        {"event_type": "risk_breach", "source_engine": "a\u0000b"},
        format="json",
    )

    assert (in_payload.status_code, in_source.status_code) == (400, 400)
    assert in_source.json() == {"source_engine": ["contains a NUL character"]}
    assert not LearningEvent.objects.exists()
