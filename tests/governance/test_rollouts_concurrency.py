"""Beat workers evaluating one rollout at once apply its decision exactly once (issue 18)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from calibration.services.pipeline import decisions_record
from governance.models import Checkpoint, LedgerEntry, Rollout
from governance.services.rollouts import in_candidate_cohort, rollout_analyze, rollout_start
from tests.factories.rollouts import T0, Outcomes, make_plan, make_versions

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def versions(tenant, reviewer):
    return make_versions(tenant=tenant, reviewer=reviewer)


def _decisions(tenant, rollout, *, n, candidate_rate, at):
    rows, outcomes = [], Outcomes(baseline=0.8, candidate=candidate_rate)
    for i in range(n):
        client_id = f"case-{i:06d}"
        candidate = in_candidate_cohort(rollout_id=rollout.pk, client_id=client_id, percent=5)
        rows.append(
            {
                "client_id": client_id,
                "score": 0.5,
                "band": "MEDIUM",
                "confidence": 1.0,
                "config_version": "1.1.0" if candidate else "1.0.0",
                "decided_at": at,
                "was_correct": outcomes.next("candidate" if candidate else "baseline"),
            }
        )
    decisions_record(tenant=tenant, rows=rows, now=at)


def _race(rollout, now, workers=6):
    barrier = threading.Barrier(workers)

    def analyze(_):
        barrier.wait()
        try:
            return rollout_analyze(rollout=rollout.pk, now=now)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(analyze, range(workers)))


@pytest.mark.parametrize(
    ("candidate_rate", "kind", "state"),
    [
        pytest.param(0.8, "rollout.advanced", "RUNNING", id="advance"),
        pytest.param(0.6, "rollout.aborted", "ABORTED", id="abort"),
    ],
)
def test_racing_analyses_apply_the_decision_once(
    tenant, reviewer, versions, candidate_rate, kind, state
):
    _, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    at = T0 + dt.timedelta(minutes=5)
    _decisions(tenant, rollout, n=6000, candidate_rate=candidate_rate, at=at)
    now = T0 + dt.timedelta(minutes=20)

    results = _race(rollout, now)

    # One worker applies the stage-0 decision. A worker slow enough to read the rollout after
    # the advance committed analyses the new stage (and waits out its minimum duration):
    # that is a second analysis, not a second application, so only stage-0 verdicts count.
    decided = [r for r in results if r is not None and r["stage"] == 0 and r["decision"] != "wait"]
    assert len(decided) == 1, results
    assert LedgerEntry.objects.filter(tenant=tenant, kind=kind).count() == 1
    row = Rollout.objects.get(pk=rollout.pk)
    assert row.state == state
    if state == "RUNNING":
        assert row.stage_index == 1 and row.percent == 25
    else:
        assert (
            Checkpoint.objects.filter(tenant=tenant, checkpoint_type="rollout_aborted").count() == 1
        )
