"""Admin of adaptive confidence: pattern calibrations with their thresholds."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import ExpressionWrapper, F, FloatField
from django.db.models.functions import NullIf

from calibration.models import PatternCalibration
from calibration.services.patterns import pattern_recalibrate
from governance.admin.base import GovernedAdminMixin, TenantScopedAdminMixin


@admin.register(PatternCalibration)
class PatternCalibrationAdmin(GovernedAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "pattern",
        "tenant",
        "total_matches",
        "accuracy_column",
        "is_calibrated",
        "strong_threshold",
        "weak_threshold",
        "recalibrated_at",
    ]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["pattern"]
    actions = ["recalibrate_selected"]
    readonly_fields = [
        "tenant",
        "pattern",
        "total_matches",
        "correct_matches",
        "false_positives",
        "empirical_strong_threshold",
        "empirical_weak_threshold",
        "calibrated_samples",
        "last_outcome_at",
        "recalibrated_at",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                accuracy_value=ExpressionWrapper(
                    F("correct_matches") * 1.0 / NullIf(F("total_matches"), 0),
                    output_field=FloatField(),
                )
            )
        )

    @admin.display(description="accuracy", ordering="accuracy_value")
    def accuracy_column(self, obj):
        return f"{obj.accuracy:.1%}" if obj.accuracy is not None else "—"

    @admin.display(boolean=True, description="calibrated")
    def is_calibrated(self, obj):
        return obj.is_calibrated

    @admin.action(description="Recalibrate the selected patterns")
    def recalibrate_selected(self, request, queryset):
        for calibration in queryset:
            pattern_recalibrate(calibration=calibration)
        self.message_user(request, f"recalibrated {queryset.count()} pattern(s)", messages.SUCCESS)
