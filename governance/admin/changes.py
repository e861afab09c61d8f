"""Read-only records of governed changes: rollback reports are written by the rollback
service, never edited."""

from __future__ import annotations

from django.contrib import admin

from governance.admin.base import GovernedAdminMixin, TenantScopedAdminMixin
from governance.models import RollbackReport


@admin.register(RollbackReport)
class RollbackReportAdmin(GovernedAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "tenant",
        "family",
        "rolled_back_from",
        "rolled_back_to",
        "actor",
        "automatic",
    ]
    list_filter = ["tenant", "automatic"]
    list_select_related = ["tenant", "family", "rolled_back_from", "rolled_back_to"]
    search_fields = ["actor", "reason"]

    def has_add_permission(self, request):
        return False
