"""Factories for the active learning loop: backtest cases, and an ACTIVE scoring version set
up through the governance services (register, submit, approve, activate)."""

from __future__ import annotations

import copy
from typing import Any

import factory

from governance.selectors import active_version
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from learning.models import BacktestCase

# The seed's example: a flag rule ``term_seen >= 2`` where 1 would hit.
TERM_PAYLOAD: dict[str, Any] = {
    "weights": {"risk_signal": 0.6, "velocity": 0.4},
    "bias": 0.0,
    "bands": ["LOW", "MEDIUM", "HIGH"],
    "thresholds": [0.4, 0.7],
    "flag_rules": [
        {"name": "term_emergence", "feature": "term_seen", "operator": ">=", "value": 2}
    ],
    "escalate_on": ["term_emergence"],
    "min_confidence": 0.1,
    "confidence_margin": 0.1,
}


def term_payload(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(TERM_PAYLOAD)
    payload.update(overrides)
    return payload


class BacktestCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BacktestCase

    case_id = factory.Sequence(lambda n: f"case_{n:04d}")
    features = factory.LazyFunction(lambda: {"risk_signal": 0.2, "velocity": 0.1})
    expected_decision = "LOW"
    expected_flags = factory.LazyFunction(list)
    expected_escalate = None
    protected = False


def activate_version(*, tenant, payload, reviewer, version="1.0.0", now=None):
    """An ACTIVE scoring version, authored by a machine and approved and activated by
    ``reviewer`` (through the services, so the ledger holds the whole story)."""
    created = version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=payload,
        base_version=active_version(tenant_id=tenant.pk, family="scoring"),
        actor=Actor.system("seed"),
        submit=True,
        now=now,
    )
    version_approve(version=created, user=reviewer, reason="seeded for the test", now=now)
    return version_activate(version=created, user=reviewer, reason="seeded", now=now)


def term_emergence_cases(tenant) -> list[BacktestCase]:
    """Six cases that use ``term_seen``: four HIT under ``term_seen >= 2``;
    case_term_emergence_001 (term_seen 1, expects the flag) MISSes and is what the seed's
    threshold relaxation fixes; case_band_001 MISSes for an unrelated reason (its expected
    band is unreachable without moving a threshold far). Pass rate 4/6 -> 5/6."""
    rows = [
        (
            "case_term_emergence_001",
            {"risk_signal": 0.9, "velocity": 0.8, "term_seen": 1},
            "HIGH",
            ["term_emergence"],
            True,
            False,
        ),
        (
            "case_term_emergence_002",
            {"risk_signal": 0.9, "velocity": 0.9, "term_seen": 3},
            "HIGH",
            ["term_emergence"],
            True,
            False,
        ),
        (
            "case_term_emergence_003",
            {"risk_signal": 0.1, "velocity": 0.1, "term_seen": 0},
            "LOW",
            [],
            False,
            True,
        ),
        (
            "case_term_emergence_004",
            {"risk_signal": 0.5, "velocity": 0.5, "term_seen": 2},
            "MEDIUM",
            ["term_emergence"],
            True,
            False,
        ),
        (
            "case_term_emergence_005",
            {"risk_signal": 0.2, "velocity": 0.2, "term_seen": 5},
            "LOW",
            ["term_emergence"],
            None,
            True,
        ),
        (
            "case_band_001",
            {"risk_signal": 0.05, "velocity": 0.05, "term_seen": 0},
            "HIGH",
            [],
            None,
            False,
        ),
    ]
    return [
        BacktestCaseFactory(
            tenant=tenant,
            case_id=case_id,
            features=features,
            expected_decision=expected,
            expected_flags=flags,
            expected_escalate=escalate,
            protected=protected,
        )
        for case_id, features, expected, flags, escalate, protected in rows
    ]
