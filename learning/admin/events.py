"""Admin of learning events (filtered, read-only) and the engine settings."""

import json

from django.contrib import admin
from django.utils.html import format_html

from governance.admin.base import TenantScopedAdminMixin
from governance.admin.settings import GovernedSettingsAdminMixin
from governance.services.ledger import Actor
from learning.models import LearningEngineConfig, LearningEvent
from learning.services import events as services


@admin.register(LearningEvent)
class LearningEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "timestamp",
        "event_type",
        "source_engine",
        "subject",
        "confidence",
        "win",
        "outcome",
        "tenant",
    ]
    list_filter = ["event_type", "tenant", "win"]
    list_select_related = ["tenant"]
    search_fields = ["=subject", "=source_engine", "=event_id"]
    date_hierarchy = "timestamp"
    ordering = ["-timestamp", "-id"]
    show_full_result_count = False
    readonly_fields = [
        "tenant",
        "event_type",
        "source_engine",
        "subject",
        "timestamp",
        "outcome",
        "confidence",
        "win",
        "event_id",
        "recorded_at",
        "payload_view",
    ]
    exclude = ["payload"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="payload")
    def payload_view(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))


@admin.register(LearningEngineConfig)
class LearningEngineConfigAdmin(
    GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    list_display = [
        "tenant",
        "collect_signals",
        "collect_executions",
        "collect_portfolio",
        "collect_risk",
        "collect_predictions",
        "retention_days",
    ]
    list_select_related = ["tenant"]
    readonly_fields = ["updated_at"]

    def save_setting(self, request, obj, data, reason):
        return services.learning_config_engine_update(
            tenant=obj.tenant_id,
            actor=Actor.for_user(request.user),
            reason=reason,
            changes={name: data[name] for name in services.ENGINE_FIELDS if name in data},
        )
