"""`checkpoint_dismiss`: the beat task's auto-dismissal over 100,000 expired checkpoints
against one raw SQL UPDATE of the same rows, with the number of queries it issued (which must
not grow with the rows)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.benchmarking import Figure, benchmark, require_postgres
from governance.models import Checkpoint, CheckpointState, Tenant
from governance.services.checkpoints import checkpoint_auto_dismiss_expired

SEED_SQL = """
INSERT INTO governance_checkpoint (tenant_id, checkpoint_type, subject_type, subject_id,
    description, confidence, priority, blocking, state, created_at, expires_at,
    resolution_reason)
SELECT %s, 'custom', '', '', 'benchmark checkpoint ' || n, 0.5, n %% 4, false, 'PENDING',
    %s, %s, ''
FROM generate_series(1, %s) AS n
"""
BASELINE_SQL = """
UPDATE governance_checkpoint
SET state = 'AUTO_DISMISSED', resolved_at = %s, resolution_reason = 'expired without a decision'
WHERE state = 'PENDING' AND blocking = false AND expires_at <= %s
"""


def _seed(n: int, now: dt.datetime) -> Tenant:
    tenant = Tenant.objects.create(slug=f"bench-dismiss-{uuid.uuid4().hex[:8]}", name="bench")
    with connection.cursor() as cursor:
        cursor.execute(
            SEED_SQL, [tenant.pk, now - dt.timedelta(days=4), now - dt.timedelta(hours=1), n]
        )
        cursor.execute("ANALYZE governance_checkpoint")
    return tenant


def _ours(n: int) -> tuple[float, int]:
    now = timezone.now()
    tenant = _seed(n, now)
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        dismissed = checkpoint_auto_dismiss_expired(now=now)
        seconds = time.perf_counter() - start
    left = Checkpoint.objects.filter(tenant=tenant, state=CheckpointState.PENDING).count()
    if dismissed != n or left:
        raise RuntimeError(f"dismissed {dismissed} of {n}, {left} left pending")
    return seconds, len(queries)


def _baseline(n: int) -> float:
    now = timezone.now()
    _seed(n, now)
    with connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(BASELINE_SQL, [now, now])
        seconds = time.perf_counter() - start
        if cursor.rowcount != n:
            raise RuntimeError(f"baseline dismissed {cursor.rowcount} of {n}")
    return seconds


@benchmark("checkpoint_dismiss")
def checkpoint_dismiss(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    n = max(1000, int(100_000 * scale))
    small = max(10, n // 100)
    # Dismiss whatever an earlier run left expired, so each measurement sees only its rows.
    checkpoint_auto_dismiss_expired()
    _, small_queries = _ours(small)
    runs = [(_ours(n), _baseline(n)) for _ in range(2)]
    ours_s = min(run[0][0] for run in runs)
    queries = max(run[0][1] for run in runs)
    base_s = min(run[1] for run in runs)
    if queries > small_queries:
        raise RuntimeError(f"query count grew with rows: {small_queries} -> {queries}")
    return [
        Figure(
            name="checkpoint_auto_dismiss",
            ours=ours_s,
            baseline=base_s,
            unit="s",
            higher_is_better=False,
            baseline_label="one raw SQL UPDATE of the same rows",
            notes={
                "checkpoints": n,
                "queries": queries,
                f"queries_at_{small}_rows": small_queries,
                "target": "within 3x; queries independent of rows",
            },
        )
    ]
