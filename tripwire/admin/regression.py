"""Admin for the regression tripwires: policies with their state (baseline, current, drop,
triggered, action taken), an evaluate-now action, and an acknowledge button that re-enables
the throttled risk policy only when the reviewer ticks it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.urls import path

from governance.admin.base import TenantScopedAdminMixin, has_reviewer_perm
from governance.admin.levers import ReadOnlyMixin, buttons, reason_action_view
from governance.admin.settings import GovernedSettingsAdminMixin, SettingsChangeForm
from governance.services.ledger import Actor
from tripwire.models import KPIEvent, RegressionPolicy, RegressionState
from tripwire.services import regression as services


class AcknowledgeForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    reenable_risk_policy = forms.BooleanField(
        required=False,
        label="Re-enable the throttled risk policy",
        help_text="Leave unticked to keep the engine throttled after acknowledging.",
    )


class RegressionPolicyForm(SettingsChangeForm):
    class Meta:
        model = RegressionPolicy
        fields = [
            "tenant",
            "domain",
            "metric",
            "kind",
            "enabled",
            "window_events",
            "baseline_events",
            "window_days",
            "max_drop_fraction",
            "action",
            "rollback_family",
            "significance_level",
            "significance_test",
            "tiers",
            "consecutive_breaches",
        ]


@admin.register(RegressionPolicy)
class RegressionPolicyAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    form = RegressionPolicyForm
    list_display = [
        "__str__",
        "tenant",
        "enabled",
        "action",
        "max_drop_fraction",
        "status",
        "baseline",
        "current",
        "drop",
        "triggered",
        "action_taken",
        "evaluated_at",
    ]
    list_filter = ["tenant", "enabled", "action", "state__status", "state__triggered"]
    list_select_related = ["tenant", "state"]
    readonly_fields = ["state_view", "changed_by", "changed_at"]
    actions = ["evaluate_now"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["tenant", "domain", "metric"]
        return fields

    def _state(self, obj) -> RegressionState | None:
        return getattr(obj, "state", None)

    @admin.display(description="status", ordering="state__status")
    def status(self, obj):
        state = self._state(obj)
        return state.status if state else "—"

    @admin.display(description="baseline")
    def baseline(self, obj):
        state = self._state(obj)
        return "—" if state is None or state.baseline is None else f"{state.baseline:.4g}"

    @admin.display(description="current")
    def current(self, obj):
        state = self._state(obj)
        return "—" if state is None or state.current is None else f"{state.current:.4g}"

    @admin.display(description="drop", ordering="state__drop")
    def drop(self, obj):
        state = self._state(obj)
        return "—" if state is None or state.drop is None else f"{state.drop:.1%}"

    @admin.display(description="triggered", boolean=True, ordering="state__triggered")
    def triggered(self, obj):
        state = self._state(obj)
        return bool(state and state.triggered)

    @admin.display(description="action taken")
    def action_taken(self, obj):
        state = self._state(obj)
        return state.action_taken if state else ""

    @admin.display(description="evaluated", ordering="state__evaluated_at")
    def evaluated_at(self, obj):
        state = self._state(obj)
        return state.evaluated_at if state else None

    @admin.display(description="state")
    def state_view(self, obj):
        state = self._state(obj) if obj and obj.pk else None
        if state is None:
            return "not evaluated yet"
        from django.utils.html import format_html

        parts = format_html(
            "status <strong>{}</strong> · baseline {} · current {} · drop {} · p {} · "
            "window {}/{} · breach streak {} · {} · acknowledged by {} {}",
            state.status,
            self.baseline(obj),
            self.current(obj),
            self.drop(obj),
            "—" if state.p_value is None else f"{state.p_value:.3g}",
            state.window_count,
            state.baseline_count,
            state.breach_streak,
            state.action_taken or "no action",
            state.acknowledged_by or "—",
            state.acknowledged_at or "",
        )
        if state.triggered:
            return format_html("{}<br>{}", parts, buttons(obj, [("acknowledge", "Acknowledge")]))
        return parts

    def save_setting(self, request, obj, data, reason):
        return services.regression_policy_upsert(
            tenant=obj.tenant_id,
            domain=obj.domain,
            metric=obj.metric,
            actor=Actor.for_user(request.user),
            reason=reason,
            **{k: v for k, v in data.items() if k in services.POLICY_FIELDS},
        )

    @admin.action(description="Evaluate the selected policies now")
    def evaluate_now(self, request, queryset):
        actor = Actor.for_user(request.user)
        for policy in queryset:
            state = services.regression_evaluate(policy=policy, requested_by=actor)
            self.message_user(request, f"{policy}: {state.status}", messages.INFO)

    def get_urls(self):
        def acknowledge(request, pk):
            policy = get_object_or_404(self.get_queryset(request), pk=pk)
            return reason_action_view(
                self,
                request,
                policy,
                title="Acknowledge the tripwire",
                help_text=(
                    "Re-arms the tripwire and resolves its checkpoint. A kill switch is "
                    "released separately, on the go-live page."
                ),
                form_class=AcknowledgeForm,
                on_submit=lambda data: services.regression_acknowledge(
                    policy=policy,
                    user=request.user,
                    reason=data["reason"],
                    reenable_risk_policy=data["reenable_risk_policy"],
                ),
            )

        return [
            path(
                "<int:pk>/acknowledge/",
                self.admin_site.admin_view(acknowledge),
                name="tripwire_regressionpolicy_acknowledge",
            ),
            *super().get_urls(),
        ]

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            request.user.is_superuser or has_reviewer_perm(request)
        )


@admin.register(KPIEvent)
class KPIEventAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["id", "tenant", "domain", "metric", "success", "value", "created_at"]
    list_filter = ["tenant", "domain", "metric"]
    list_select_related = ["tenant"]
    show_full_result_count = False
    ordering = ["-id"]
