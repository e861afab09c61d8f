from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import factory
from django.utils import timezone

from calibration.models import Decision, DecisionFlag
from tests.factories.governance import TenantFactory


class DecisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Decision

    tenant = factory.SubFactory(TenantFactory)
    client_id = factory.Sequence(lambda n: f"d-{n}")
    score = 0.5
    band = "MEDIUM"
    confidence = 1.0
    decided_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))


def make_decisions(
    tenant,
    scores: Sequence[float],
    *,
    payload=None,
    decided_at: dt.datetime | None = None,
    outcomes: Iterable[bool | None] | None = None,
    flags: Iterable[Sequence[str]] | None = None,
    tier: str = "standard",
    prefix: str = "d",
) -> list[Decision]:
    """Bulk decisions at the given scores; band, confidence, escalation and flags come from
    the scorer when a payload is given (with one feature ``x`` equal to the score)."""
    import numpy as np

    from calibration.scoring import classify_scores, score_many

    decided_at = decided_at or timezone.now() - dt.timedelta(days=1)
    outcomes = list(outcomes) if outcomes is not None else [None] * len(scores)
    if flags is not None:
        flags = list(flags)
    elif payload is not None and set(payload["weights"]) == {"x"}:
        batch = score_many(payload, [{"x": s} for s in scores])
        flags = [batch.result(i).flags for i in range(len(scores))]
    else:
        flags = [()] * len(scores)
    if payload is not None:
        band_index, confidence, abstain = classify_scores(payload, np.asarray(scores))
        bands = [payload["bands"][i] for i in band_index]
    else:
        bands, confidence, abstain = (
            ["MEDIUM"] * len(scores),
            [1.0] * len(scores),
            [False] * len(scores),
        )
    escalate_on = set(payload.get("escalate_on", [])) if payload else set()
    rows = [
        Decision(
            tenant=tenant,
            client_id=f"{prefix}-{i}",
            score=float(s),
            band=bands[i],
            confidence=float(confidence[i]),
            abstained=bool(abstain[i]),
            escalated=bool(set(flags[i]) & escalate_on),
            tier=tier,
            config_version="1.0.0",
            decided_at=decided_at,
            was_correct=outcomes[i],
        )
        for i, s in enumerate(scores)
    ]
    created = Decision.objects.bulk_create(rows)
    DecisionFlag.objects.bulk_create(
        DecisionFlag(decision=d, tenant=tenant, decided_at=d.decided_at, name=name)
        for d, names in zip(created, flags, strict=True)
        for name in names
    )
    return created
