"""Admin of governed safety settings: a change form saves through the kernel's
``settings_change`` (tightening applies with a ledger entry; loosening opens a change request
that another reviewer approves here), and the change requests themselves, with their
before/after diff and Approve/Reject buttons."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from governance.admin.base import (
    ReasonForm,
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
    has_reviewer_perm,
)
from governance.errors import DomainError
from governance.kernel.settings import (
    SettingsOutcome,
    settings_change_approve,
    settings_change_reject,
)
from governance.models import CheckpointConfig, ConfigFamily, SettingsChange
from governance.services import settings as services
from governance.services.ledger import Actor


class SettingsChangeForm(forms.ModelForm):
    """A safety setting's change form: the reason is required (it goes on the ledger, and a
    loosening cannot be requested without one)."""

    change_reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: recorded on the ledger. A change that loosens this setting becomes a "
        "change request that another reviewer approves.",
    )


def _refusal(exc: DomainError) -> str:
    if hasattr(exc, "errors"):
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
    return exc.message


class GovernedSettingsAdminMixin:
    """``save_model`` never saves the row itself: ``save_setting`` calls the app's service,
    which goes through ``settings_change`` with the logged-in user as the actor. A loosening
    leaves the row as it was and sends the reviewer to the change request; a refusal is shown
    and nothing is written. The tenant is chosen once, when the row is created."""

    form = SettingsChangeForm

    def save_setting(self, request, obj, data: dict[str, Any], reason: str) -> SettingsOutcome:
        raise NotImplementedError

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and "tenant" not in fields:
            fields.append("tenant")
        return fields

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        reason = data.pop("change_reason", "")
        try:
            outcome = self.save_setting(request, obj, data, reason)
        except DomainError as exc:
            request._settings_refused = _refusal(exc)
            return
        request._settings_outcome = outcome
        if outcome.applied is not None:
            obj.pk = outcome.applied.pk

    def save_related(self, request, form, formsets, change):
        if form.instance.pk is not None and not self._not_saved(request):
            super().save_related(request, form, formsets, change)

    def _not_saved(self, request) -> bool:
        outcome = getattr(request, "_settings_outcome", None)
        return hasattr(request, "_settings_refused") or (outcome is not None and outcome.pending)

    # The admin's own history would claim a change that did not happen; the ledger entry
    # written by the kernel is the record.
    def log_addition(self, request, obj, message):
        if not self._not_saved(request):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not self._not_saved(request):
            return super().log_change(request, obj, message)

    def _after_save(self, request, obj):
        if hasattr(request, "_settings_refused"):
            self.message_user(request, f"not saved: {request._settings_refused}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        outcome = request._settings_outcome
        if outcome.pending:
            change = outcome.change
            self.message_user(
                request,
                f"This change loosens {', '.join(change.loosened)}: nothing was changed yet. "
                f"Change request #{change.pk} waits for another reviewer's approval.",
                messages.WARNING,
            )
            return HttpResponseRedirect(
                reverse("admin:governance_settingschange_change", args=[change.pk])
            )
        return None

    def response_add(self, request, obj, post_url_continue=None):
        return self._after_save(request, obj) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        return self._after_save(request, obj) or super().response_change(request, obj)


def _settings_admin_user(request) -> Actor:
    return Actor.for_user(request.user)


@admin.register(ConfigFamily)
class ConfigFamilyAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "approvals_required"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    fields = ["tenant", "name", "approvals_required", "json_schema", "change_reason"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "name"] if obj is not None else fields

    def save_setting(self, request, obj, data, reason):
        return services.config_family_update(
            tenant=obj.tenant_id,
            name=obj.name,
            actor=_settings_admin_user(request),
            reason=reason,
            **{name: data[name] for name in services.CONFIG_FAMILY_FIELDS if name in data},
        )


@admin.register(CheckpointConfig)
class CheckpointConfigAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["tenant", "auto_approve_confidence", "auto_dismiss_hours", "max_pending"]
    list_select_related = ["tenant"]
    fields = ["tenant", *services.CHECKPOINT_CONFIG_FIELDS, "change_reason"]

    def save_setting(self, request, obj, data, reason):
        return services.checkpoint_config_update(
            tenant=obj.tenant_id,
            actor=_settings_admin_user(request),
            reason=reason,
            **{name: data[name] for name in services.CHECKPOINT_CONFIG_FIELDS if name in data},
        )


def _approve(obj, request, reason):
    return settings_change_approve(change=obj, user=request.user, reason=reason)


def _reject(obj, request, reason):
    return settings_change_reject(change=obj, user=request.user, reason=reason)


@admin.register(SettingsChange)
class SettingsChangeAdmin(ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    """The decide page of a settings change request: what it changes, why, who asked, and the
    Approve/Reject buttons (a reviewer other than the requester, with a reason)."""

    fsm_fields = ["state"]
    fsm_forms = {"apply": ReasonForm, "reject": ReasonForm}
    fsm_services = {"apply": _approve, "reject": _reject}
    list_display = [
        "__str__",
        "tenant",
        "setting",
        "target",
        "state",
        "loosened_view",
        "requested_by_label",
        "created_at",
    ]
    list_filter = ["state", "setting", "tenant"]
    list_select_related = ["tenant"]
    search_fields = ["target", "reason"]
    fields = readonly_fields = [
        "tenant",
        "setting",
        "target",
        "state",
        "diff_view",
        "requested_by_label",
        "reason",
        "created_at",
        "decided_by",
        "decision_reason",
        "decided_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # Who may decide is the kernel's rule (a reviewer, member of the tenant, not the
    # requester), so the reviewer permission opens the page; no per-model grant is needed.
    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or has_reviewer_perm(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or has_reviewer_perm(request)

    @admin.display(description="loosens")
    def loosened_view(self, obj):
        return ", ".join(obj.loosened)

    @admin.display(description="before / after")
    def diff_view(self, obj):
        loosened = set(obj.loosened)
        return format_html(
            "<table><tr><th>field</th><th>before</th><th>after</th><th></th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td>"
                "<td>{}</td></tr>",
                (
                    (
                        name,
                        json.dumps(obj.before.get(name)),
                        json.dumps(value),
                        "loosens" if name in loosened else "",
                    )
                    for name, value in obj.after.items()
                ),
            ),
        )
