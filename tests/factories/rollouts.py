"""Rollout fixtures: an ACTIVE scoring version and an APPROVED candidate based on it, a plan,
and deterministic outcomes."""

from __future__ import annotations

import datetime as dt
import math

from governance.services.ledger import Actor
from governance.services.rollouts import rollout_create
from governance.services.versions import version_approve, version_register
from tests.factories.loop import activate_version, term_payload

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
STAGES = [
    # Enough decisions per cohort for the first stage to see a 10-point drop (power ~0.9).
    {"percent": 5, "min_duration_seconds": 600, "min_decisions": 200},
    {"percent": 25, "min_duration_seconds": 600, "min_decisions": 200},
    {"percent": 50, "min_duration_seconds": 600, "min_decisions": 200},
    {"percent": 100},
]
GUARDS = [{"metric": "success_rate", "max_relative_regression": 0.05}]


def make_versions(*, tenant, reviewer):
    """(ACTIVE scoring v1.0.0, APPROVED v1.1.0 based on it)."""
    current = activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer, now=T0)
    candidate = version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=term_payload(thresholds=[0.41, 0.7]),
        base_version=current,
        actor=Actor.system("pipeline"),
        submit=True,
        now=T0,
    )
    candidate = version_approve(version=candidate, user=reviewer, reason="looks right", now=T0)
    return current, candidate


def make_plan(candidate, **kwargs):
    return rollout_create(
        version=candidate,
        stages=kwargs.pop("stages", STAGES),
        guards=GUARDS,
        actor=Actor.system("pipeline"),
        now=T0,
        **kwargs,
    )


class Outcomes:
    """Exact success rates per cohort, whatever the split: the k-th outcome of a cohort
    succeeds when floor((k + 1) * rate) > floor(k * rate), so any prefix of n outcomes has
    round(n * rate) successes (a sampled rate would make a test depend on which cases the
    hash happens to put in the small cohort)."""

    def __init__(self, **rates: float):
        self.rates, self.seen = rates, dict.fromkeys(rates, 0)

    def next(self, cohort: str) -> bool:
        k, rate = self.seen[cohort], self.rates[cohort]
        self.seen[cohort] = k + 1
        return math.floor((k + 1) * rate + 1e-9) > math.floor(k * rate + 1e-9)
