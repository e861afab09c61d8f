"""Benchmarks of the learning proofs.

`regret_decay`: the beat pass over 100,000 policies with regret against one raw SQL UPDATE of
the same formula, with the number of queries it issued (which must not grow with the rows).

`graduation_status`: the graduation dashboard of a tenant with 1,000,000 prevention records
against the same figures aggregated from the records themselves; it must stay under 50 ms.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.benchmarking import Figure, benchmark, best_of, require_postgres
from governance.models import Tenant
from learning.models.proofs import (
    ConsoleProof,
    Incident,
    LearnedPolicy,
    Pattern,
    PreventionRecord,
    RegretEvent,
    TimelineEvent,
)
from learning.selectors_proofs import graduation_status
from learning.services.proofs import prevention_counters_rebuild, regret_decay_all

SEED_PATTERNS = """
INSERT INTO learning_pattern (tenant_id, key, name, created_at)
SELECT %(tenant)s, 'bench-' || n, '', %(born)s FROM generate_series(1, %(n)s) AS n
"""
SEED_INCIDENTS = """
INSERT INTO learning_incident (tenant_id, pattern_id, signature, title, severity, occurred_at,
    created_at)
SELECT %(tenant)s, p.id, p.key, '', 5, %(born)s, %(born)s
FROM learning_pattern p WHERE p.tenant_id = %(tenant)s
"""
# Scores 1..20 and last decays 0..3 days before "now", so every row has a different factor.
SEED_POLICIES = """
INSERT INTO learning_learnedpolicy (tenant_id, pattern_id, source_incident_id, name, state,
    born_at, created_by_label, auto_demote_score, auto_demote_count, decay_rate, regret_score,
    regret_count, regret_total, last_decayed_at, auto_demotions, prevention_count,
    recurrence_count, demoted_reason, demoted_automatically)
SELECT %(tenant)s, i.pattern_id, i.id, 'bench policy ' || i.id, 'ACTIVE', %(born)s, 'bench',
    10.0, 3, %(rate)s, 1 + (i.id %% 20), 1, 1,
    %(now)s - make_interval(secs => 60 + (i.id %% 4320) * 60), 0, 0, 0, '', false
FROM learning_incident i WHERE i.tenant_id = %(tenant)s
"""
BASELINE_SQL = """
UPDATE learning_learnedpolicy
SET regret_score = regret_score
        * power(1 - decay_rate, extract(epoch FROM (%(now)s - last_decayed_at)) / 86400.0),
    last_decayed_at = %(now)s
WHERE tenant_id = %(tenant)s AND regret_score > 0.001 AND decay_rate > 0
    AND last_decayed_at < %(now)s
"""
SEED_PREVENTIONS = """
INSERT INTO learning_preventionrecord (tenant_id, policy_id, pattern_id, original_incident_id,
    blocked_signature, outcome, signature_match_confidence, match_band, time_since_policy,
    calls_evaluated, created_at, recorded_by)
SELECT %(tenant)s, p.id, p.pattern_id, p.source_incident_id, '',
    CASE WHEN n %% 10 = 0 THEN 'RECURRED' ELSE 'PREVENTED' END,
    0.9, 'STRONG', interval '1 day', 10, %(now)s - make_interval(secs => n), 'bench'
FROM generate_series(1, %(n)s) AS n
JOIN (
    SELECT id, pattern_id, source_incident_id,
        (row_number() OVER (ORDER BY id)) - 1 AS k,
        count(*) OVER () AS total
    FROM learning_learnedpolicy WHERE tenant_id = %(tenant)s
) AS p ON p.k = (n::bigint * 7919) %% p.total
"""
BASELINE_GRADUATION_SQL = [
    """SELECT count(*) FILTER (WHERE outcome = 'PREVENTED'),
              count(*) FILTER (WHERE outcome = 'RECURRED'),
              count(DISTINCT policy_id) FILTER (WHERE outcome = 'PREVENTED')
       FROM learning_preventionrecord WHERE tenant_id = %(tenant)s""",
    """SELECT pattern_id, count(*) AS n FROM learning_preventionrecord
       WHERE tenant_id = %(tenant)s AND outcome = 'PREVENTED'
       GROUP BY pattern_id ORDER BY n DESC, pattern_id LIMIT 5""",
    """SELECT count(*), count(*) FILTER (WHERE was_auto_rolled_back)
       FROM learning_regretevent WHERE tenant_id = %(tenant)s""",
    """SELECT incident_id FROM learning_consoleproof WHERE tenant_id = %(tenant)s LIMIT 10""",
]


def _tenant(label: str) -> Tenant:
    return Tenant.objects.create(slug=f"bench-{label}-{uuid.uuid4().hex[:8]}", name=label)


def _seed_policies(tenant: Tenant, n: int, now: dt.datetime, rate: float = 0.1) -> None:
    params = {"tenant": tenant.pk, "n": n, "born": now - dt.timedelta(days=30), "now": now}
    with connection.cursor() as cursor:
        cursor.execute(SEED_PATTERNS, params)
        cursor.execute(SEED_INCIDENTS, params)
        cursor.execute(SEED_POLICIES, {**params, "rate": rate})
        cursor.execute("ANALYZE learning_learnedpolicy")


def _drop(tenant: Tenant) -> None:
    """Remove a benchmark tenant's proof rows so later measurements see only their own (the
    tenant and its ledger stay: the ledger is append-only)."""
    with connection.cursor() as cursor:
        for model in (
            TimelineEvent,
            ConsoleProof,
            RegretEvent,
            PreventionRecord,
            LearnedPolicy,
            Incident,
            Pattern,
        ):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE tenant_id = %s", [tenant.pk])


def _expected(tenant: Tenant, now: dt.datetime) -> dict[int, float]:
    rows = LearnedPolicy.objects.filter(tenant=tenant).order_by("pk")[:50]
    return {
        p.pk: p.regret_score
        * math.pow(1 - p.decay_rate, (now - p.last_decayed_at).total_seconds() / 86400.0)
        for p in rows
    }


def _decay_ours(n: int) -> tuple[float, int]:
    now = timezone.now()
    tenant = _tenant("decay")
    try:
        _seed_policies(tenant, n, now)
        expected = _expected(tenant, now)
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            decayed = regret_decay_all(now=now)
            seconds = time.perf_counter() - start
        done = LearnedPolicy.objects.filter(tenant=tenant, last_decayed_at=now).count()
        if done != n or decayed < n:
            raise RuntimeError(f"decayed {done} of {n} policies")
        for pk, score in LearnedPolicy.objects.filter(pk__in=expected).values_list(
            "pk", "regret_score"
        ):
            if abs(score - expected[pk]) > 1e-9 * max(1.0, expected[pk]):
                raise RuntimeError(f"policy {pk}: {score} != {expected[pk]}")
        if regret_decay_all(now=now) != 0:
            raise RuntimeError("a second pass at the same instant decayed again")
        return seconds, len(queries)
    finally:
        _drop(tenant)


def _decay_baseline(n: int) -> float:
    now = timezone.now()
    tenant = _tenant("decay-raw")
    try:
        _seed_policies(tenant, n, now)
        with connection.cursor() as cursor:
            start = time.perf_counter()
            cursor.execute(BASELINE_SQL, {"tenant": tenant.pk, "now": now})
            seconds = time.perf_counter() - start
            if cursor.rowcount != n:
                raise RuntimeError(f"baseline decayed {cursor.rowcount} of {n}")
        return seconds
    finally:
        _drop(tenant)


@benchmark("regret_decay")
def regret_decay(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    n = max(1000, int(100_000 * scale))
    small = max(10, n // 100)
    # Decay whatever earlier runs left, so each measurement sees only its own rows.
    regret_decay_all()
    _, small_queries = _decay_ours(small)
    runs = [(_decay_ours(n), _decay_baseline(n)) for _ in range(2)]
    ours_s = min(run[0][0] for run in runs)
    queries = max(run[0][1] for run in runs)
    base_s = min(run[1] for run in runs)
    if queries > small_queries:
        raise RuntimeError(f"query count grew with rows: {small_queries} -> {queries}")
    return [
        Figure(
            name="regret_decay",
            ours=ours_s,
            baseline=base_s,
            unit="s",
            higher_is_better=False,
            baseline_label="one raw SQL UPDATE of the same formula",
            notes={
                "policies": n,
                "queries": queries,
                f"queries_at_{small}_policies": small_queries,
                "target": "within 3x; queries independent of policies",
            },
        )
    ]


def _seed_graduation(n_records: int, n_policies: int, now: dt.datetime) -> Tenant:
    tenant = _tenant("graduation")
    try:
        _seed_graduation_rows(tenant, n_records, n_policies, now)
    except BaseException:
        _drop(tenant)
        raise
    return tenant


def _seed_graduation_rows(tenant: Tenant, n_records: int, n_policies: int, now: dt.datetime):
    _seed_policies(tenant, n_policies, now, rate=0.1)
    with connection.cursor() as cursor:
        cursor.execute(SEED_PREVENTIONS, {"tenant": tenant.pk, "n": n_records, "now": now})
    prevention_counters_rebuild(tenant_id=tenant.pk)
    policy = LearnedPolicy.objects.filter(tenant=tenant).order_by("pk").first()
    RegretEvent.objects.create(
        tenant=tenant,
        policy=policy,
        regret_type="false_positive",
        severity=4,
        created_at=now,
        was_auto_rolled_back=True,
        score_after=12.0,
    )
    LearnedPolicy.objects.filter(pk=policy.pk).update(auto_demotions=1, regret_total=3)
    ConsoleProof.objects.create(tenant=tenant, incident_id=policy.source_incident_id)
    with connection.cursor() as cursor:
        for table in ("preventionrecord", "learnedpolicy", "regretevent", "consoleproof"):
            cursor.execute(f"VACUUM ANALYZE learning_{table}")


def _baseline_graduation(tenant_id: int) -> list:
    with connection.cursor() as cursor:
        out = []
        for sql in BASELINE_GRADUATION_SQL:
            cursor.execute(sql, {"tenant": tenant_id})
            out.append(cursor.fetchall())
        return out


@benchmark("graduation_status")
def graduation_status_benchmark(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    n_records = max(10_000, int(1_000_000 * scale))
    n_policies = max(100, int(1000 * scale))
    now = timezone.now()
    tenant = _seed_graduation(n_records, n_policies, now)
    try:
        status = graduation_status(tenant_id=tenant.pk, now=now)
        base = _baseline_graduation(tenant.pk)
        prevented, recurred, with_prevention = base[0][0]
        if (status.total_preventions, status.total_failures) != (prevented, recurred):
            raise RuntimeError(
                f"counters {status.total_preventions}/{status.total_failures} disagree with "
                f"the records {prevented}/{recurred}"
            )
        if status.policies_with_prevention != with_prevention or not status.is_graduated:
            raise RuntimeError("graduation status disagrees with the records")
        if prevented + recurred != n_records:
            raise RuntimeError(f"seeded {prevented + recurred} of {n_records} records")
        with CaptureQueriesContext(connection) as queries:
            graduation_status(tenant_id=tenant.pk, now=now)
        ours_s = best_of(lambda: graduation_status(tenant_id=tenant.pk, now=now), repeat=7)
        base_s = best_of(lambda: _baseline_graduation(tenant.pk), repeat=3)
    finally:
        _drop(tenant)
    if ours_s >= 0.050:
        raise RuntimeError(f"graduation_status took {ours_s * 1000:.1f} ms (target < 50 ms)")
    return [
        Figure(
            name="graduation_status",
            ours=ours_s * 1000,
            baseline=base_s * 1000,
            unit="ms",
            higher_is_better=False,
            baseline_label="the same figures aggregated from the prevention records",
            notes={
                "prevention_records": n_records,
                "policies": n_policies,
                "queries": len(queries),
                "target": "under 50 ms",
            },
        )
    ]
