"""Admin of model drift: baselines and alerts (acknowledged by a reviewer)."""

from django.contrib import admin

from governance.admin.base import (
    GovernedAdminMixin,
    ReasonForm,
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
    has_reviewer_perm,
    run_bulk_service,
)
from governance.admin.settings import GovernedSettingsAdminMixin, SettingsChangeForm
from governance.services.ledger import Actor
from tripwire.models import DriftAlert, DriftAlertState, DriftBaseline
from tripwire.services import drift as services


class DriftBaselineForm(SettingsChangeForm):
    class Meta:
        model = DriftBaseline
        fields = ["tenant", "model_name", "metrics", "threshold_pct", "window_days", "min_samples"]


@admin.register(DriftBaseline)
class DriftBaselineAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    form = DriftBaselineForm
    list_display = ["model_name", "tenant", "metrics", "threshold_pct", "set_at", "last_checked_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    readonly_fields = ["set_at", "set_by_label", "last_checked_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "model_name"] if obj is not None else fields

    def save_setting(self, request, obj, data, reason):
        return services.drift_set_baseline(
            tenant=obj.tenant_id,
            model_name=obj.model_name,
            metrics=data.get("metrics", obj.metrics),
            threshold_pct=data.get("threshold_pct", obj.threshold_pct),
            window_days=data.get("window_days", obj.window_days),
            min_samples=data.get("min_samples", obj.min_samples),
            actor=Actor.for_user(request.user),
            reason=reason,
        )


@admin.register(DriftAlert)
class DriftAlertAdmin(
    GovernedAdminMixin, ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    fsm_fields = ["state"]
    fsm_forms = {"acknowledge": ReasonForm}
    fsm_services = {
        "acknowledge": lambda obj, request, reason: services.drift_alert_acknowledge(
            alert=obj, user=request.user, reason=reason
        )
    }
    list_display = [
        "model_name",
        "metric",
        "baseline_value",
        "current_value",
        "change_pct",
        "threshold_pct",
        "state",
        "tenant",
        "created_at",
    ]
    list_filter = ["state", "model_name", "tenant"]
    list_select_related = ["tenant"]
    raw_id_fields = ["acknowledged_by"]
    readonly_fields = [
        "tenant",
        "baseline",
        "model_name",
        "metric",
        "baseline_value",
        "current_value",
        "change_pct",
        "threshold_pct",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
        "acknowledgement_reason",
    ]
    actions = ["acknowledge_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge_selected(self, request, queryset):
        if not has_reviewer_perm(request):
            self.message_user(request, "only reviewers can acknowledge drift alerts")
            return
        run_bulk_service(
            self,
            request,
            queryset.filter(state=DriftAlertState.OPEN),
            lambda alert: services.drift_alert_acknowledge(
                alert=alert, user=request.user, reason="bulk acknowledgement in the admin"
            ),
            "acknowledge",
        )
