"""The loop's REST API: cases, runs, failures, proposals, sandbox and promotion."""

from __future__ import annotations

import pytest

from governance.models import ConfigVersion, VersionState
from learning.models import BacktestCase, LoopProposal
from tests.factories.loop import (
    BacktestCaseFactory,
    activate_version,
    term_emergence_cases,
    term_payload,
)

pytestmark = pytest.mark.django_db
BASE = "/api/learning"


@pytest.fixture
def seeded(tenant, reviewer):
    version = activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    return version


def test_a_machine_creates_a_case_and_reads_it_back(api, tenant):
    response = api.post(
        f"{BASE}/backtest-cases/",
        {
            "case_id": "case_x",
            "features": {"risk_signal": 0.5},
            "expected_decision": "MEDIUM",
            "expected_flags": ["term_emergence"],
            "protected": True,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert api.get(f"{BASE}/backtest-cases/case_x/").json()["protected"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"case_id": "x", "features": {}, "expected_decision": "LOW"},
            "features",
            id="empty-features",
        ),
        pytest.param(
            {"case_id": "x", "features": {"a": "high"}, "expected_decision": "LOW"},
            "features",
            id="non-number",
        ),
        pytest.param(
            {"case_id": "bad id!", "features": {"a": 1}, "expected_decision": "LOW"},
            "case_id",
            id="bad-id",
        ),
        pytest.param(
            {"case_id": "x", "features": {"a": 1}, "expected_decision": "LOW", "user": "bob"},
            "user",
            id="unknown-field",
        ),
    ],
)
def test_bad_cases_are_refused_field_by_field_and_nothing_is_stored(api, tenant, body, field):
    response = api.post(f"{BASE}/backtest-cases/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not BacktestCase.objects.filter(tenant=tenant).exists()


def test_another_tenants_case_is_not_found(api, other_tenant):
    BacktestCaseFactory(tenant=other_tenant, case_id="theirs")
    assert api.get(f"{BASE}/backtest-cases/theirs/").status_code == 404


def test_the_loop_runs_through_the_api_up_to_a_pending_version(api, seeded, tenant):
    run = api.post(f"{BASE}/backtest-runs/", {}, format="json")
    assert run.status_code == 201
    assert run.json()["pass_rate"] == pytest.approx(4 / 6, abs=1e-6)
    misses = api.get(f"{BASE}/backtest-runs/{run.json()['id']}/results/?status=MISS").json()
    assert {r["case_id"] for r in misses["results"]} == {"case_term_emergence_001", "case_band_001"}

    failure = api.get(f"{BASE}/failure-analyses/?hypothesis=flag_rule_too_strict").json()[
        "results"
    ][0]
    proposal = api.post(f"{BASE}/failure-analyses/{failure['id']}/propose/", {}, format="json")
    assert proposal.status_code == 201
    pid = proposal.json()["id"]

    sandbox = api.post(f"{BASE}/loop-proposals/{pid}/sandbox/", {"runs": 3}, format="json")
    assert sandbox.status_code == 201
    assert sandbox.json()["promotion_eligible"] is True
    again = api.post(f"{BASE}/loop-proposals/{pid}/sandbox/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["current_state"] == "ELIGIBLE"

    promoted = api.post(f"{BASE}/loop-proposals/{pid}/promote/", {"strict": True}, format="json")
    assert promoted.status_code == 201
    assert promoted.json()["state"] == VersionState.PENDING_APPROVAL
    assert ConfigVersion.objects.get(tenant=tenant, state=VersionState.ACTIVE).version == "1.0.0"
    assert LoopProposal.objects.get(pk=pid).state == "PROMOTED"


def test_a_run_through_the_api_analyses_its_misses_at_once_as_the_cli_does(api, seeded, tenant):
    from learning.models import BacktestRun, FailureAnalysis
    from learning.services import loop_engine as engine
    from learning.services.loop import CASE_FIELDS, LOOP_ACTOR, failures_analyze

    run = api.post(f"{BASE}/backtest-runs/", {}, format="json").json()

    listed = api.get(f"{BASE}/failure-analyses/?run={run['id']}").json()["results"]
    assert {(f["case_id"], f["run_id"]) for f in listed} == {
        ("case_band_001", run["run_id"]),
        ("case_term_emergence_001", run["run_id"]),
    }
    # The CLI's analysis finds nothing left to do, and each artifact is the deterministic one.
    assert failures_analyze(run=BacktestRun.objects.get(pk=run["id"]), actor=LOOP_ACTOR) == []
    for failure in FailureAnalysis.objects.select_related("case", "result"):
        expected = engine.analyze_failure(
            payload=seeded.payload,
            case={name: getattr(failure.case, name) for name in CASE_FIELDS},
            status=failure.result.status,
            run_id=run["run_id"],
            config_version=seeded.version,
        )
        assert failure.artifact == expected
        assert failure.artifact_sha256 == engine.sha256_of(expected)
    assert api.get(f"{BASE}/failure-analyses/?run={run['id']}").json()["count"] == 2


def test_a_run_without_misses_analyses_nothing(api, seeded, tenant):
    BacktestCase.objects.filter(tenant=tenant).exclude(
        case_id__in=["case_term_emergence_001", "case_band_001"]
    ).update(active=True)
    BacktestCase.objects.filter(
        tenant=tenant, case_id__in=["case_term_emergence_001", "case_band_001"]
    ).update(active=False)

    run = api.post(f"{BASE}/backtest-runs/", {}, format="json").json()

    assert run["miss_count"] == 0
    assert api.get(f"{BASE}/failure-analyses/").json()["count"] == 0


def test_a_failure_without_a_bounded_fix_is_a_400(api, seeded, tenant):
    from learning.models import BacktestRun, FailureAnalysis
    from learning.services.loop import LOOP_ACTOR, backtest_run_execute, failures_analyze

    failures_analyze(run=backtest_run_execute(tenant=tenant, actor=LOOP_ACTOR), actor=LOOP_ACTOR)
    failure = FailureAnalysis.objects.get(case__case_id="case_band_001")
    response = api.post(f"{BASE}/failure-analyses/{failure.pk}/propose/", {}, format="json")
    assert response.status_code == 400
    assert "failure" in response.json()
    assert BacktestRun.objects.count() == 1


def test_a_run_without_an_active_version_is_a_400(api, tenant):
    response = api.post(f"{BASE}/backtest-runs/", {}, format="json")
    assert response.status_code == 400
    assert "config_version" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"case_id": "x", "features": {"a\u0000b": 1}, "expected_decision": "LOW"},
            id="nul-in-feature-name",
        ),
        pytest.param(
            {
                "case_id": "x",
                "features": {"a": 1},
                "expected_decision": "LOW",
                "expected_flags": ["f\u0000"],
            },
            id="nul-in-flag",
        ),
        pytest.param(
            '{"case_id": "x", "features": {"a": 1e400}, "expected_decision": "LOW"}',
            id="infinite-feature",
        ),
    ],
)
def test_input_the_database_cannot_store_is_a_400_not_a_500(api, tenant, body):
    if isinstance(body, str):
        response = api.post(f"{BASE}/backtest-cases/", body, content_type="application/json")
    else:
        response = api.post(f"{BASE}/backtest-cases/", body, format="json")
    assert response.status_code == 400
    assert not BacktestCase.objects.filter(tenant=tenant).exists()


def test_an_out_of_range_config_version_id_is_a_400(api, tenant):
    response = api.post(f"{BASE}/backtest-runs/", {"config_version": 2**70}, format="json")
    assert response.status_code == 400
