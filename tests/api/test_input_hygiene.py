"""Input hygiene (governance.api.hygiene): the 22 inputs of issue 14 that answered 500, and
their classes, are a 400 naming the field, and store nothing."""

from __future__ import annotations

import json

import pytest

from calibration.models import TrainingJob
from governance.api.hygiene import MAX_DEPTH, load_json
from governance.models import LedgerEntry, RiskReservation
from learning.models import LearningEvent as Event
from tripwire.models import KPIEvent

pytestmark = pytest.mark.django_db

KPI = "/api/governance/regression/kpi"
KPI_BATCH = "/api/governance/regression/kpi/batch"
RESERVE = "/api/governance/risk/reserve"
TRAINING_JOBS = "/api/calibration/training-jobs/"
EVENTS = "/api/learning/events"
SCORE = "/api/calibration/score"
NUL, SURROGATE = "\x00", "\ud800"


def kpi(**extra):
    return {"domain": "WHOLESALE", "metric": "contract_rate", "success": True, **extra}


def event(**extra):
    return {
        "event_type": "SIGNAL_GENERATED",
        "source_engine": "momentum",
        "symbol": "ACME",
        "payload": {"confidence": 0.7},
        "event_id": "gen-1",
        **extra,
    }


def job(**extra):
    return {"model_name": "confidence_calibrator", "method": "platt_scaling", **extra}


def post_raw(api, path, body):
    """Post JSON text as a client would send it: json.dumps escapes NULs and lone surrogates
    as \\u0000 and \\ud800, which DRF's test client could not encode itself."""
    text = body if isinstance(body, str) else json.dumps(body)
    return api.post(path, data=text, content_type="application/json")


def stored():
    return (
        LedgerEntry.objects.count(),
        KPIEvent.objects.count(),
        RiskReservation.objects.count(),
        TrainingJob.objects.count(),
        Event.objects.count(),
    )


def _with(body_factory, field, value):
    return body_factory(**{field: value})


BAD_STRINGS = [
    # NUL in the KPI's domain, metric and event_id (psycopg refused them: 500).
    pytest.param(KPI, kpi(domain=NUL), "domain", id="kpi-domain-nul"),
    pytest.param(KPI, kpi(metric=f"rate{NUL}"), "metric", id="kpi-metric-nul"),
    pytest.param(KPI, kpi(event_id=f"e{NUL}1"), "event_id", id="kpi-event-id-nul"),
    # A lone surrogate in string fields of several endpoints (UnicodeEncodeError: 500).
    pytest.param(KPI, kpi(domain=SURROGATE), "domain", id="kpi-domain-surrogate"),
    pytest.param(KPI, kpi(metric=SURROGATE), "metric", id="kpi-metric-surrogate"),
    pytest.param(KPI, kpi(event_id=SURROGATE), "event_id", id="kpi-event-id-surrogate"),
    pytest.param(
        KPI_BATCH,
        {"events": [kpi(), kpi(domain=f"W{SURROGATE}")]},
        "events.1.domain",
        id="kpi-batch-domain-surrogate",
    ),
    pytest.param(
        KPI_BATCH,
        {"events": [kpi(metric=SURROGATE)]},
        "events.0.metric",
        id="kpi-batch-metric-surrogate",
    ),
    pytest.param(RESERVE, {"engine": SURROGATE, "exposure": "1"}, "engine", id="reserve-engine"),
    pytest.param(TRAINING_JOBS, job(model_name=SURROGATE), "model_name", id="job-model-name"),
    pytest.param(TRAINING_JOBS, job(model_type=SURROGATE), "model_type", id="job-model-type"),
    pytest.param(
        TRAINING_JOBS,
        job(sample_filter={"subject": SURROGATE}),
        "sample_filter.subject",
        id="job-sample-filter-subject",
    ),
    pytest.param(EVENTS, event(source_engine=SURROGATE), "source_engine", id="event-source"),
    pytest.param(EVENTS, event(symbol=SURROGATE), "symbol", id="event-symbol"),
    pytest.param(EVENTS, event(event_id=SURROGATE), "event_id", id="event-id"),
    pytest.param(
        EVENTS, event(payload={"note": SURROGATE}), "payload.note", id="event-payload-value"
    ),
    pytest.param(
        EVENTS,
        event(payload={f"k{NUL}": 1}),
        "payload.k\\u0000",
        id="event-payload-key-nul",
    ),
    pytest.param(SCORE, {"features": {SURROGATE: 0.5}}, "features.\\ud800", id="score-key"),
]


@pytest.mark.parametrize(("path", "body", "field"), BAD_STRINGS)
def test_a_nul_or_a_lone_surrogate_is_a_400_naming_the_field(api, path, body, field):
    before = stored()

    response = post_raw(api, path, body)

    assert response.status_code == 400, response.content
    problem = response.json()[field][0]
    assert "NUL" in problem or "lone surrogate" in problem
    assert stored() == before


def test_a_min_samples_beyond_any_column_is_a_400(api):
    response = post_raw(api, TRAINING_JOBS, job(min_samples=10**40))

    assert response.status_code == 400
    assert "integer out of range" in response.json()["min_samples"][0]
    assert TrainingJob.objects.count() == 0


def test_a_min_samples_beyond_its_columns_range_is_a_400(api):
    response = post_raw(api, TRAINING_JOBS, job(min_samples=2**40))

    assert response.status_code == 400
    assert "min_samples" in response.json()
    assert TrainingJob.objects.count() == 0


def test_a_number_that_overflows_to_infinity_is_a_400(api):
    response = post_raw(api, EVENTS, '{"event_type": "SIGNAL_GENERATED", "outcome": 1e400}')

    assert response.status_code == 400
    assert "out of range" in response.json()["outcome"][0]


DEEP = "[" * 50_000 + "]" * 50_000


@pytest.mark.parametrize("path", [KPI, KPI_BATCH, RESERVE, TRAINING_JOBS, EVENTS, SCORE])
def test_50000_deep_json_is_a_400(api, path):
    before = stored()

    response = post_raw(api, path, DEEP)

    assert response.status_code == 400
    assert f"nested deeper than {MAX_DEPTH} levels" in json.dumps(response.json())
    assert stored() == before


def test_nesting_is_counted_outside_strings_only():
    assert load_json(json.dumps({"note": "[" * 1000})) == {"note": "[" * 1000}
    assert load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(Exception, match="nested deeper"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_deep_nesting_inside_a_valid_object_is_a_400(api):
    nested = {"note": 1}
    for _ in range(MAX_DEPTH + 5):
        nested = {"n": nested}

    response = post_raw(api, EVENTS, event(payload=nested))

    assert response.status_code == 400
    assert Event.objects.count() == 0


def test_an_escaped_backslash_before_u0000_is_not_a_nul(api):
    assert load_json(r'{"path": "C:\\u0000"}') == {"path": "C:\\u0000"}


def test_a_nul_in_a_query_string_is_a_400_naming_the_parameter(api):
    response = api.get("/api/learning/failure-analyses/", {"hypothesis": f"x{NUL}"})

    assert response.status_code == 400
    assert "NUL" in response.json()["hypothesis"][0]


def test_a_nul_in_a_form_field_is_a_400(api):
    response = api.post(RESERVE, {"engine": f"W{NUL}", "exposure": "1"})

    assert response.status_code == 400
    assert "NUL" in response.json()["engine"][0]
    assert RiskReservation.objects.count() == 0
