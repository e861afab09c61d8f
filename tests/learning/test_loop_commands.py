"""The loop CLI (`manage.py learning ...`), the import command and the beat tasks."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from governance.models import ConfigVersion, VersionState
from learning.models import BacktestCase, BacktestRun, FailureAnalysis, LoopProposal, ProposalState
from learning.services.loop import backtest_run_nightly, learning_loop_nightly
from tests.factories.loop import activate_version, term_emergence_cases, term_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(tenant, reviewer):
    version = activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    return version


def _call(*args, stderr=None) -> str:
    out = StringIO()
    call_command("learning", *args, "--tenant", "acme", stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


def test_the_five_commands_walk_the_seed_example_step_by_step(seeded, tenant, tmp_path):
    _call("backtest")
    output = _call("analyze-failures", "--min-confidence", "MED", "--output-dir", str(tmp_path))
    assert "failure_case_term_emergence_001_run_000001: flag_rule_too_strict" in output
    output = _call(
        "generate-proposals",
        "--failure-id",
        "failure_case_term_emergence_001_run_000001",
        "--strategy",
        "bounded",
    )
    assert "flag_rule_adjustment" in output
    proposal_id = "proposal_case_term_emergence_001_run_000001"
    output = _call("run-sandbox", "--proposal-id", proposal_id, "--runs", "3")
    assert "PASS improvement_threshold" in output and "ELIGIBLE" in output
    progress = StringIO()
    output = _call("promote", "--proposal-id", proposal_id, "--strict", "true", stderr=progress)
    assert "v1.1.0 (PENDING_APPROVAL)" in output
    assert ConfigVersion.objects.get(tenant=tenant, state=VersionState.ACTIVE).version == "1.0.0"
    # The strict replay is the long part: it says so on stderr before it starts.
    assert progress.getvalue().splitlines() == [
        f"re-running the sandbox replay of {proposal_id} (3 run(s)): it must reproduce the "
        "recorded results and pass the gate again",
        "the replay reproduces the sandbox run and passes the gate",
        "registering the proposed payload as a new scoring version",
    ]


def test_run_loop_without_auto_promotion_stops_before_promotion(seeded, tenant):
    output = _call("run-loop", "--auto-promote", "false")
    assert "[4/5] sandbox 1/1" in output
    assert "promotion skipped" in output
    assert LoopProposal.objects.get().state == ProposalState.ELIGIBLE
    assert not ConfigVersion.objects.filter(source="learning_loop").exists()


def test_promoting_an_unknown_proposal_is_a_command_error(seeded):
    with pytest.raises(CommandError):
        _call("promote", "--proposal-id", "nope")


def test_cases_import_from_csv_and_json(tenant, tmp_path):
    csv_file = tmp_path / "cases.csv"
    csv_file.write_text(
        "case_id,expected_decision,expected_flags,expected_escalate,protected,risk_signal,term_seen\n"
        "c1,HIGH,term_emergence,true,false,0.9,1\n"
        "c2,LOW,,,true,0.1,\n"
    )
    json_file = tmp_path / "cases.json"
    json_file.write_text(
        json.dumps(
            {
                "cases": [
                    {"case_id": "c3", "features": {"velocity": 0.2}, "expected_decision": "LOW"}
                ]
            }
        )
    )
    call_command("import_backtest_cases", str(csv_file), "--tenant", "acme", stdout=StringIO())
    call_command("import_backtest_cases", str(json_file), "--tenant", "acme", stdout=StringIO())
    c1, c2, c3 = BacktestCase.objects.filter(tenant=tenant).order_by("case_id")
    assert (c1.features, c1.expected_flags, c1.expected_escalate) == (
        {"risk_signal": 0.9, "term_seen": 1.0},
        ["term_emergence"],
        True,
    )
    assert (c2.features, c2.protected, c2.expected_escalate) == ({"risk_signal": 0.1}, True, None)
    assert c3.features == {"velocity": 0.2}


def test_an_import_with_one_bad_row_stores_nothing(tenant, tmp_path):
    json_file = tmp_path / "cases.json"
    json_file.write_text(
        json.dumps(
            [
                {"case_id": "ok", "features": {"a": 1}, "expected_decision": "LOW"},
                {"case_id": "bad", "features": {}, "expected_decision": "LOW"},
            ]
        )
    )
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("import_backtest_cases", str(json_file), "--tenant", "acme", stdout=StringIO())
    assert not BacktestCase.objects.exists()


def test_the_nightly_backtest_runs_once_per_active_version_and_day(seeded, tenant):
    night = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    first = backtest_run_nightly(tenant=tenant, now=night)
    second = backtest_run_nightly(tenant=tenant, now=night + dt.timedelta(minutes=5))
    assert first.pk == second.pk
    assert BacktestRun.objects.filter(tenant=tenant).count() == 1
    assert first.config_version == seeded


def test_the_nightly_loop_is_safe_to_run_twice_and_never_promotes(seeded, tenant):
    learning_loop_nightly()
    learning_loop_nightly()
    assert BacktestRun.objects.filter(tenant=tenant).count() == 1
    assert FailureAnalysis.objects.filter(tenant=tenant).count() == 2
    assert LoopProposal.objects.filter(tenant=tenant).count() == 1
    assert not ConfigVersion.objects.filter(source="learning_loop").exists()


def test_the_beat_schedules_are_seeded():
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"learning.tasks.loop.backtest_nightly", "learning.tasks.loop.learning_loop"} <= tasks
