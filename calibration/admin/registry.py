"""Admin of the calibrator registry: training jobs with their logs, model versions with stage
buttons and evaluations, and the registry settings."""

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from calibration.models import (
    CalibratorEvaluation,
    CalibratorModel,
    CalibratorRegistryConfig,
    CalibratorVersion,
    ModelStage,
    TrainingJob,
)
from calibration.services import registry as services
from governance.admin.base import (
    GovernedAdminMixin,
    ReasonForm,
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
)
from governance.admin.settings import GovernedSettingsAdminMixin
from governance.services.ledger import Actor


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


@admin.register(TrainingJob)
class TrainingJobAdmin(
    GovernedAdminMixin, ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    fsm_fields = ["state"]
    fsm_services = {
        "requeue": lambda obj, request, **_: services.training_job_requeue(
            job=obj, actor=Actor.for_user(request.user)
        )
    }
    list_display = [
        "id",
        "model",
        "method",
        "state",
        "samples",
        "tenant",
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "method", "tenant"]
    list_select_related = ["tenant", "model"]
    search_fields = ["model__name", "failure_reason"]
    readonly_fields = [
        "tenant",
        "model",
        "method",
        "cv_folds",
        "min_samples",
        "sample_source",
        "sample_filter",
        "created_at",
        "created_by_label",
        "started_at",
        "finished_at",
        "attempts",
        "samples",
        "failure_reason",
        "log_view",
        "metrics_view",
    ]
    exclude = ["log", "metrics"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="log")
    def log_view(self, obj):
        return format_html("<pre>{}</pre>", obj.log or "—")

    @admin.display(description="cross-validated metrics")
    def metrics_view(self, obj):
        return _pretty(obj.metrics)


class EvaluationInline(admin.TabularInline):
    model = CalibratorEvaluation
    extra = 0
    fields = ["benchmark_name", "passed", "metrics", "thresholds", "results", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def _promote(target):
    def run(obj, request, reason=""):
        return services.calibrator_promote(
            version=obj, target_stage=target, actor=Actor.for_user(request.user), reason=reason
        )

    return run


@admin.register(CalibratorVersion)
class CalibratorVersionAdmin(
    GovernedAdminMixin, ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    fsm_fields = ["stage"]
    fsm_forms = {
        "to_staging": OptionalReasonForm,
        "to_production": ReasonForm,
        "archive": OptionalReasonForm,
    }
    fsm_services = {
        "to_staging": _promote(ModelStage.STAGING),
        "to_production": _promote(ModelStage.PRODUCTION),
        "archive": lambda obj, request, reason="": services.calibrator_archive(
            version=obj, actor=Actor.for_user(request.user), reason=reason
        ),
    }
    list_display = ["__str__", "stage", "method", "samples", "tenant", "created_at", "promoted_at"]
    list_filter = ["stage", "method", "tenant"]
    list_select_related = ["tenant", "model"]
    raw_id_fields = ["training_job"]
    inlines = [EvaluationInline]
    readonly_fields = [
        "tenant",
        "model",
        "number",
        "method",
        "samples",
        "training_job",
        "created_at",
        "staged_at",
        "promoted_at",
        "archived_at",
        "parameters_view",
        "metrics_view",
    ]
    exclude = ["parameters", "metrics"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="fitted parameters")
    def parameters_view(self, obj):
        return _pretty(obj.parameters)

    @admin.display(description="cross-validated metrics")
    def metrics_view(self, obj):
        return _pretty({k: v for k, v in obj.metrics.items() if k != "folds"})


@admin.register(CalibratorModel)
class CalibratorModelAdmin(GovernedAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "model_type", "last_version", "tenant", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    readonly_fields = ["last_version"]


@admin.register(CalibratorRegistryConfig)
class CalibratorRegistryConfigAdmin(
    GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    list_display = [
        "tenant",
        "min_samples_for_training",
        "require_eval_pass",
        "enable_drift_detection",
        "drift_threshold_pct",
    ]
    list_select_related = ["tenant"]
    readonly_fields = ["updated_at"]

    def save_setting(self, request, obj, data, reason):
        return services.registry_config_update(
            tenant=obj.tenant_id,
            actor=Actor.for_user(request.user),
            reason=reason,
            changes={name: data[name] for name in services.REGISTRY_CONFIG_FIELDS if name in data},
        )
