"""Reads of the learning proofs, shared by the API, the admin, services and benchmarks.

Where the seed's trackers live (their state is rows; these are their questions):
    PreventionTracker.prevention_rate / has_proven_prevention / get_top_preventing_patterns
                                          -> prevention_rate, has_proven_prevention,
                                             get_top_preventing_patterns
    GlobalRegretTracker.has_proven_rollback / system_regret_rate
                                          -> has_proven_rollback, system_regret_rate
    PolicyRegretTracker.is_demoted        -> LearnedPolicy.is_demoted
    PolicyRegretTracker.to_rollback_timeline -> rollback_timeline
    PreventionRecord.to_console_timeline  -> prevention_console_timeline
    M25GraduationStatus                   -> GraduationStatus (graduation_status)
    PreventionTimeline (to_console, _generate_narrative) -> PreventionTimeline (prevention_timeline)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from learning.models.proofs import (
    ConsoleProof,
    Incident,
    LearnedPolicy,
    PreventionOutcome,
    PreventionRecord,
    RegretEvent,
    TimelineEvent,
    TimelineKind,
    decayed_score,
    decayed_score_expression,
)

GRADUATED_LABEL = "LOOP-PROVEN"
NOT_GRADUATED_LABEL = "LOOP-ENABLED"

# --- PreventionTracker ------------------------------------------------------------------------


def prevention_counts(*, tenant_id: int) -> dict[str, int]:
    """Totals from the per-policy counters (kept in each record's transaction)."""
    totals = LearnedPolicy.objects.filter(tenant_id=tenant_id).aggregate(
        prevented=Sum("prevention_count", default=0),
        recurred=Sum("recurrence_count", default=0),
        policies_with_prevention=Count("id", filter=Q(prevention_count__gt=0)),
    )
    return {key: int(value or 0) for key, value in totals.items()}


def prevention_rate(*, tenant_id: int) -> float:
    """PREVENTED / (PREVENTED + RECURRED); 0.0 before any evidence."""
    counts = prevention_counts(tenant_id=tenant_id)
    total = counts["prevented"] + counts["recurred"]
    return counts["prevented"] / total if total else 0.0


def has_proven_prevention(*, tenant_id: int) -> bool:
    """Gate 1: at least one policy prevented one recurrence (an index probe)."""
    return PreventionRecord.objects.filter(
        tenant_id=tenant_id, outcome=PreventionOutcome.PREVENTED
    ).exists()


def get_top_preventing_patterns(*, tenant_id: int, n: int = 5) -> list[tuple[str, int]]:
    """The patterns with the most preventions, most first: ``[(pattern key, count)]``."""
    rows = (
        LearnedPolicy.objects.filter(tenant_id=tenant_id, prevention_count__gt=0)
        .values("pattern__key")
        .annotate(preventions=Sum("prevention_count"))
        .order_by("-preventions", "pattern__key")[:n]
    )
    return [(row["pattern__key"], int(row["preventions"])) for row in rows]


# --- GlobalRegretTracker ----------------------------------------------------------------------


def has_proven_rollback(*, tenant_id: int) -> bool:
    """Gate 2: at least one policy was demoted automatically because of regret."""
    return RegretEvent.objects.filter(tenant_id=tenant_id, was_auto_rolled_back=True).exists()


def regret_totals(*, tenant_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Regret events, automatic demotions and the system regret rate: the mean current
    (decayed to ``now``) regret score of the policies that have had regret."""
    now = now or timezone.now()
    totals = LearnedPolicy.objects.filter(tenant_id=tenant_id).aggregate(
        total_regret_events=Sum("regret_total", default=0),
        total_auto_demotions=Sum("auto_demotions", default=0),
        system_regret_rate=Avg(decayed_score_expression(now), filter=Q(regret_total__gt=0)),
    )
    return {
        "total_regret_events": int(totals["total_regret_events"] or 0),
        "total_auto_demotions": int(totals["total_auto_demotions"] or 0),
        "system_regret_rate": float(totals["system_regret_rate"] or 0.0),
    }


def system_regret_rate(*, tenant_id: int, now: dt.datetime | None = None) -> float:
    return regret_totals(tenant_id=tenant_id, now=now)["system_regret_rate"]


def current_regret_score(*, policy: LearnedPolicy, now: dt.datetime | None = None) -> float:
    """The policy's regret score decayed to ``now`` (the stored one is exact at
    ``last_decayed_at``)."""
    return decayed_score(
        score=policy.regret_score,
        decay_rate=policy.decay_rate,
        since=policy.last_decayed_at,
        now=now or timezone.now(),
    )


def rollback_timeline(*, policy: LearnedPolicy) -> dict[str, Any] | None:
    """The seed's ``PolicyRegretTracker.to_rollback_timeline``: None unless demoted."""
    if policy.demoted_at is None or policy.state != "DEMOTED":
        return None
    return {
        "type": TimelineKind.ROLLBACK.value,
        "timestamp": policy.demoted_at.isoformat(),
        "headline": "Policy auto-demoted due to regret"
        if policy.demoted_automatically
        else "Policy demoted by a reviewer",
        "details": {
            "policy": policy.pk,
            "reason": policy.demoted_reason,
            "regret_score": f"{policy.regret_score:.1f}",
            "regret_events": policy.regret_count,
            "automatic": policy.demoted_automatically,
        },
        "is_milestone": policy.demoted_automatically,
    }


def prevention_console_timeline(*, record: PreventionRecord) -> dict[str, Any]:
    """The seed's ``PreventionRecord.to_console_timeline``."""
    return {
        "type": TimelineKind.PREVENTION.value,
        "timestamp": record.created_at.isoformat(),
        "headline": "Policy prevented recurrence"
        if record.outcome == PreventionOutcome.PREVENTED
        else "Policy did not prevent recurrence",
        "details": {
            "original_incident": record.original_incident_id,
            "would_be_incident": record.blocked_incident_id,
            "pattern": record.pattern_id,
            "policy": record.policy_id,
            "confidence": f"{record.signature_match_confidence:.0%}",
            "band": record.match_band,
            "policy_age": str(record.time_since_policy),
        },
        "is_milestone": record.outcome == PreventionOutcome.PREVENTED,
    }


# --- PreventionTimeline -----------------------------------------------------------------------


def _when(value: str) -> str:
    moment = dt.datetime.fromisoformat(value)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sentence(event: dict[str, Any]) -> str:
    d = event["details"]
    at = _when(event["timestamp"])
    kind = event["type"]
    if kind == TimelineKind.INCIDENT_CREATED:
        title = f" ({d['title']})" if d.get("title") else ""
        return (
            f"On {at}, incident #{d['incident_id']}{title} of pattern {d['pattern']} was "
            f"recorded with severity {d['severity']}."
        )
    if kind == TimelineKind.POLICY_BORN:
        return f"On {at}, policy '{d['policy_name']}' was born from it to prevent a recurrence."
    if kind == TimelineKind.PREVENTION:
        match = f"signature match {d['confidence']:.0%}, {d['band']}"
        if d["outcome"] == PreventionOutcome.PREVENTED:
            return f"On {at}, the policy prevented a recurrence of the pattern ({match})."
        return f"On {at}, the pattern recurred although the policy was active ({match})."
    if kind == TimelineKind.REGRET:
        return (
            f"On {at}, the policy caused harm ({d['regret_type'].replace('_', ' ')}, severity "
            f"{d['severity']}), raising its regret score to {d['regret_score']:.1f}."
        )
    if d.get("automatic"):
        return f"On {at}, the policy was demoted automatically: {d['reason']}."
    return f"On {at}, {d['demoted_by'] or 'a reviewer'} demoted the policy by hand: {d['reason']}."


@dataclass
class PreventionTimeline:
    """The seed's ``PreventionTimeline``: one incident's events in order (incident created,
    policy born, prevention, regret, rollback) and a narrative in plain sentences."""

    incident_id: int
    tenant_id: int
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def has_prevention(self) -> bool:
        return any(
            e["type"] == TimelineKind.PREVENTION
            and e["details"].get("outcome") == PreventionOutcome.PREVENTED
            for e in self.events
        )

    @property
    def has_rollback(self) -> bool:
        return TimelineKind.ROLLBACK in self.kinds

    @property
    def is_learning_proof(self) -> bool:
        """Incident, then a policy born from it, then a prevention by that policy."""
        seen_incident = False
        born: set[int] = set()
        for event in self.events:
            if event["type"] == TimelineKind.INCIDENT_CREATED:
                seen_incident = True
            elif event["type"] == TimelineKind.POLICY_BORN and seen_incident:
                born.add(event["details"]["policy_id"])
            elif (
                event["type"] == TimelineKind.PREVENTION
                and event["details"].get("outcome") == PreventionOutcome.PREVENTED
                and event["details"].get("policy_id") in born
            ):
                return True
        return False

    def to_console(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "tenant_id": self.tenant_id,
            "timeline": self.events,
            "summary": {
                "event_count": len(self.events),
                "kinds": sorted(set(self.kinds)),
                "has_prevention": self.has_prevention,
                "has_rollback": self.has_rollback,
                "is_learning_proof": self.is_learning_proof,
            },
            "narrative": self._generate_narrative(),
        }

    def _generate_narrative(self) -> str:
        sentences = [_sentence(event) for event in self.events]
        if self.is_learning_proof and self.has_rollback:
            sentences.append(
                "This incident shows the full learning loop: failure, policy, prevention and "
                "feedback. The system learned, protected and corrected itself."
            )
        elif self.is_learning_proof:
            sentences.append(
                "This incident proves learning: a policy born from failure prevented a recurrence."
            )
        elif self.has_rollback:
            sentences.append(
                "This incident shows self-correction: a policy that caused harm was demoted."
            )
        else:
            sentences.append("This incident is part of the feedback loop.")
        return " ".join(sentences)


def _event_dict(row: TimelineEvent) -> dict[str, Any]:
    return {
        "type": row.kind,
        "timestamp": row.occurred_at.isoformat(),
        "headline": row.headline,
        "description": row.description,
        "details": row.details,
        "is_milestone": row.is_milestone,
    }


def prevention_timeline(*, incident: Incident) -> PreventionTimeline:
    rows = TimelineEvent.objects.filter(incident=incident).order_by("occurred_at", "id")
    return PreventionTimeline(
        incident_id=incident.pk,
        tenant_id=incident.tenant_id,
        events=[_event_dict(row) for row in rows],
    )


# --- M25GraduationStatus ----------------------------------------------------------------------


@dataclass(frozen=True)
class GraduationStatus:
    """The seed's ``M25GraduationStatus`` for one tenant: the three gates that take the loop
    from "loop-enabled" to "loop-proven"."""

    tenant_id: int
    has_prevention: bool
    has_rollback: bool
    console_proof_incidents: list[int]
    console_proof_count: int
    total_preventions: int
    total_failures: int
    policies_with_prevention: int
    total_regret_events: int
    total_auto_demotions: int
    system_regret_rate: float
    top_preventing_patterns: list[tuple[str, int]]

    @property
    def prevention_rate(self) -> float:
        total = self.total_preventions + self.total_failures
        return self.total_preventions / total if total else 0.0

    @property
    def gate1_passed(self) -> bool:
        return self.has_prevention

    @property
    def gate2_passed(self) -> bool:
        return self.has_rollback

    @property
    def gate3_passed(self) -> bool:
        return self.console_proof_count >= 1

    @property
    def gates_passed(self) -> int:
        return sum([self.gate1_passed, self.gate2_passed, self.gate3_passed])

    @property
    def is_graduated(self) -> bool:
        return self.gate1_passed and self.gate2_passed and self.gate3_passed

    @property
    def status_label(self) -> str:
        if self.is_graduated:
            return GRADUATED_LABEL
        return f"{NOT_GRADUATED_LABEL} ({self.gates_passed}/3 gates)"

    @property
    def next_action(self) -> str:
        if self.is_graduated:
            return (
                "All three gates passed: the loop is proven. Keep watching regret and preventions."
            )
        if not self.gate1_passed:
            return "Activate a learned policy and record a prevention of its pattern (gate 1)."
        if not self.gate2_passed:
            return (
                "Wait for (or record) regret on an active policy until it is demoted "
                "automatically (gate 2)."
            )
        return (
            "Open the timeline of an incident whose policy prevented a recurrence and record "
            "it as the console proof (gate 3)."
        )

    def to_dashboard(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "status": self.status_label,
            "is_graduated": self.is_graduated,
            "gates_passed": self.gates_passed,
            "gates": {
                "gate1_prevention": {
                    "name": "Prevention proof",
                    "description": "A policy prevented at least one recurrence of its pattern",
                    "passed": self.gate1_passed,
                    "evidence": {
                        "total_preventions": self.total_preventions,
                        "total_failures": self.total_failures,
                        "prevention_rate": self.prevention_rate,
                        "policies_with_prevention": self.policies_with_prevention,
                        "top_preventing_patterns": [
                            {"pattern": key, "preventions": n}
                            for key, n in self.top_preventing_patterns
                        ],
                    },
                },
                "gate2_rollback": {
                    "name": "Regret rollback",
                    "description": "At least one policy was demoted automatically for causing harm",
                    "passed": self.gate2_passed,
                    "evidence": {
                        "total_regret_events": self.total_regret_events,
                        "total_auto_demotions": self.total_auto_demotions,
                        "system_regret_rate": self.system_regret_rate,
                    },
                },
                "gate3_console": {
                    "name": "Console timeline",
                    "description": "A timeline shows incident -> policy born -> prevention",
                    "passed": self.gate3_passed,
                    "evidence": {
                        "proven_incidents": self.console_proof_count,
                        "incident_ids": self.console_proof_incidents,
                    },
                },
            },
            "next_action": self.next_action,
        }


def graduation_status(*, tenant_id: int, now: dt.datetime | None = None) -> GraduationStatus:
    """Five small indexed reads, whatever the number of prevention records: two EXISTS probes,
    one aggregate over the tenant's policies (their counters), the top patterns, and the
    console proofs."""
    now = now or timezone.now()
    policies = LearnedPolicy.objects.filter(tenant_id=tenant_id)
    totals = policies.aggregate(
        prevented=Sum("prevention_count", default=0),
        recurred=Sum("recurrence_count", default=0),
        policies_with_prevention=Count("id", filter=Q(prevention_count__gt=0)),
        total_regret_events=Sum("regret_total", default=0),
        total_auto_demotions=Sum("auto_demotions", default=0),
        system_regret_rate=Avg(decayed_score_expression(now), filter=Q(regret_total__gt=0)),
    )
    proofs = list(
        ConsoleProof.objects.filter(tenant_id=tenant_id)
        .order_by("recorded_at", "id")
        .values_list("incident_id", flat=True)[:10]
    )
    proof_count = (
        len(proofs)
        if len(proofs) < 10
        else ConsoleProof.objects.filter(tenant_id=tenant_id).count()
    )
    return GraduationStatus(
        tenant_id=tenant_id,
        has_prevention=has_proven_prevention(tenant_id=tenant_id),
        has_rollback=has_proven_rollback(tenant_id=tenant_id),
        console_proof_incidents=proofs,
        console_proof_count=proof_count,
        total_preventions=int(totals["prevented"] or 0),
        total_failures=int(totals["recurred"] or 0),
        policies_with_prevention=int(totals["policies_with_prevention"] or 0),
        total_regret_events=int(totals["total_regret_events"] or 0),
        total_auto_demotions=int(totals["total_auto_demotions"] or 0),
        system_regret_rate=float(totals["system_regret_rate"] or 0.0),
        top_preventing_patterns=get_top_preventing_patterns(tenant_id=tenant_id),
    )
