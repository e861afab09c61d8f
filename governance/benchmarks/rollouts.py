"""`rollout_analysis`: the analysis of one rollout stage (``rollout_measure``: the cohort
aggregates, the guards' tests and the stage decision) over 1,000,000 decisions per cohort,
against the raw SQL of the same aggregates. Target: within 3x."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import connection
from django.utils import timezone

from governance.benchmarking import Figure, benchmark, best_of_interleaved, require_postgres
from governance.models import ConfigFamily, ConfigVersion, Rollout, RolloutState, Tenant
from governance.services.rollouts import rollout_measure

SEED_SQL = """
INSERT INTO calibration_decision (tenant_id, client_id, score, band, confidence, abstained,
    escalated, tier, config_version, config_version_ref_id, decided_at, was_correct,
    outcome_at, recorded_at)
SELECT %(tenant)s, %(prefix)s || n, 0.5, 'MEDIUM', 1.0, false, false, '', %(label)s,
    %(version)s, %(start)s + (n %% 7200) * interval '1 second',
    CASE WHEN n %% 10 = 0 THEN NULL ELSE (n %% 5) <> 0 END, %(start)s, %(start)s
FROM generate_series(1, %(n)s) AS n
"""
BASELINE_SQL = """
SELECT config_version_ref_id, COUNT(*), COUNT(was_correct),
       COUNT(*) FILTER (WHERE was_correct)
FROM calibration_decision
WHERE tenant_id = %s AND config_version_ref_id IN (%s, %s)
  AND decided_at >= %s AND decided_at <= %s
GROUP BY config_version_ref_id
"""


def _version(tenant: Tenant, family: ConfigFamily, number: str, state: str) -> ConfigVersion:
    return ConfigVersion.objects.create(
        tenant=tenant,
        family=family,
        version=number,
        payload={"weights": {"x": 1.0}, "bands": ["LOW", "HIGH"], "thresholds": [0.5]},
        state=state,
    )


def _seed(n: int) -> tuple[Rollout, dt.datetime]:
    tenant = Tenant.objects.create(slug=f"bench-rollout-{uuid.uuid4().hex[:8]}", name="bench")
    family = ConfigFamily.objects.create(tenant=tenant, name="scoring")
    baseline = _version(tenant, family, "1.0.0", "ACTIVE")
    candidate = _version(tenant, family, "1.1.0", "APPROVED")
    start = timezone.now() - dt.timedelta(hours=3)
    with connection.cursor() as cursor:
        for version, label in ((baseline, "b"), (candidate, "c")):
            cursor.execute(
                SEED_SQL,
                {
                    "tenant": tenant.pk,
                    "prefix": f"{label}-",
                    "label": version.version,
                    "version": version.pk,
                    "start": start,
                    "n": n,
                },
            )
        cursor.execute("VACUUM ANALYZE calibration_decision")
    rollout = Rollout.objects.create(
        tenant=tenant,
        family=family,
        candidate=candidate,
        baseline=baseline,
        stages=[
            {"percent": 50, "min_duration_seconds": 3600, "min_decisions": 1000},
            {"percent": 100, "min_duration_seconds": 0, "min_decisions": 0},
        ],
        guards=[
            {"metric": "success_rate", "max_relative_regression": 0.05, "test": "two_proportion_z"}
        ],
        state=RolloutState.RUNNING,
        stage_index=0,
        percent=50,
        stage_started_at=start,
    )
    return rollout, start + dt.timedelta(hours=3)


@benchmark("rollout_analysis")
def rollout_analysis(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    n = max(10_000, int(1_000_000 * scale))
    rollout, now = _seed(n)
    result: dict = {}

    def ours() -> None:
        result["analysis"] = rollout_measure(rollout, now)

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                BASELINE_SQL,
                [
                    rollout.tenant_id,
                    rollout.baseline_id,
                    rollout.candidate_id,
                    rollout.stage_started_at,
                    now,
                ],
            )
            result["raw"] = cursor.fetchall()

    ours_s, base_s = best_of_interleaved(ours, raw, repeat=5)
    cohorts = result["analysis"]["cohorts"]
    if cohorts["candidate"]["decisions"] != n or cohorts["baseline"]["decisions"] != n:
        raise RuntimeError(f"analysis counted {cohorts}, expected {n} per cohort")
    return [
        Figure(
            name="rollout_stage_analysis",
            ours=ours_s,
            baseline=base_s,
            unit="s",
            higher_is_better=False,
            baseline_label="raw SQL of the same per-cohort aggregates",
            notes={
                "decisions_per_cohort": n,
                "decision": result["analysis"]["decision"],
                "target": "within 3x",
            },
        )
    ]
