"""tripwire's panel on the control room: triggered tripwires awaiting a reviewer, open drift
alerts, and how many policies watch this tenant."""

from __future__ import annotations

from django.urls import reverse

from governance.control_room import Panel, Row, admin_url
from governance.models import Tenant
from tripwire.models import DriftAlert, DriftAlertState, RegressionPolicy, RegressionState


def panels(*, tenant: Tenant) -> list[Panel]:
    panel = Panel(
        key="tripwires",
        title="Tripwires",
        link=admin_url(RegressionState, query=f"policy__tenant__id__exact={tenant.pk}"),
        link_label="all tripwire states",
        empty="no regression policy for this tenant",
        order=15,
    )
    triggered = (
        RegressionState.objects.filter(policy__tenant=tenant, triggered=True)
        .select_related("policy")
        .order_by("-triggered_at")
    )
    for state in triggered:
        policy = state.policy
        panel.rows.append(
            Row(
                f"{policy.domain}.{policy.metric} TRIGGERED",
                f"drop {state.drop:.0%}" if state.drop is not None else "",
                reverse("govloop-kpi", args=[policy.pk]),
                "danger",
                f"{state.action_taken or policy.action}; awaits acknowledgement",
            )
        )
    if panel.rows:
        panel.tone = "danger"
    watching = (
        RegressionState.objects.filter(policy__tenant=tenant, policy__enabled=True, triggered=False)
        .select_related("policy")
        .order_by("policy__domain", "policy__metric")
    )
    for state in watching[:6]:
        policy = state.policy
        near = (
            state.drop is not None
            and policy.max_drop_fraction
            and state.drop > 0.75 * policy.max_drop_fraction
        )
        panel.rows.append(
            Row(
                f"{policy.domain}.{policy.metric}",
                f"drop {state.drop:.0%} of {policy.max_drop_fraction:.0%} allowed"
                if state.drop is not None
                else state.status,
                reverse("govloop-kpi", args=[policy.pk]),
                "warn" if near else "ok",
            )
        )
    disabled = RegressionPolicy.objects.filter(tenant=tenant, enabled=False).count()
    if disabled:
        panel.rows.append(
            Row(
                "disabled policies",
                str(disabled),
                admin_url(RegressionPolicy, query=f"tenant__id__exact={tenant.pk}"),
                "muted",
            )
        )
    for alert in DriftAlert.objects.filter(tenant=tenant, state=DriftAlertState.OPEN).order_by(
        "-created_at"
    )[:5]:
        panel.rows.append(
            Row(
                f"drift: {alert.model_name} {alert.metric}",
                f"{alert.change_pct:+.0%}",
                admin_url(DriftAlert, "change", alert.pk),
                "danger",
                f"threshold {alert.threshold_pct:.0%}",
            )
        )
        panel.tone = "danger"
    return [panel]


def subject_pages():
    """A tripwire is decided (acknowledged) on its KPI page."""
    return {RegressionPolicy._meta.label_lower: lambda pk: reverse("govloop-kpi", args=[pk])}
