"""Admin building blocks every app uses: tenant scoping and FSM buttons that call services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from django_fsm.admin import FSMAdminMixin

from governance.errors import DomainError
from governance.selectors import tenants_for_user

logger = logging.getLogger(__name__)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class TenantScopedAdminMixin:
    """Reviewers see the tenants of their memberships; superusers see all."""

    tenant_lookup = "tenant"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_lookup}__in": tenants_for_user(request.user)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant" and not request.user.is_superuser:
            kwargs["queryset"] = tenants_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # A row never moves to another tenant, not even by a superuser: its references (a
        # family, a version, a token's user) would then point across tenants.
        if obj is not None and "tenant" not in readonly and _has_field(self.model, "tenant"):
            readonly.append("tenant")
        return readonly


def _has_field(model, name: str) -> bool:
    return any(field.name == name for field in model._meta.concrete_fields)


class GovernedAdminMixin:
    """The change form of a governed row edits nothing: each change is a service (a transition
    button, an action) that checks the rules and writes the ledger. Every field is read-only
    once the row exists; saving the form writes nothing, so a stale form can never overwrite a
    governed change made meanwhile (and the FSM buttons, which save the form before they run,
    cannot carry an edit along); rows are not deleted from the admin.

    Put it first among the bases so that its read-only list is the final word."""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        hidden = set(self.exclude or [])
        every = [
            field.name
            for field in [*self.model._meta.concrete_fields, *self.model._meta.many_to_many]
            if not field.auto_created and field.name not in hidden and field.name not in readonly
        ]
        return readonly + every

    def save_model(self, request, obj, form, change):
        if change:
            return None
        return super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            return None
        return super().save_related(request, form, formsets, change)

    def has_delete_permission(self, request, obj=None):
        return False


ServiceCall = Callable[..., Any]


class ServiceFSMAdminMixin(FSMAdminMixin):
    """django-fsm-2's transition buttons, routed through services: ``fsm_services`` maps a
    transition name to ``callable(obj, request, **form_data)``. The service checks the rules
    and writes the ledger; the admin only reports the outcome."""

    fsm_services: dict[str, ServiceCall] = {}

    def is_fsm_transition_visible(self, transition) -> bool:
        # Only transitions that a service implements get a button; internal ones
        # (submit, return_to_draft, supersede, auto_approve) never do.
        return transition.name in self.fsm_services and bool(transition.custom.get("admin"))

    def _get_fsm_extra_context(self, *, request, obj):
        if obj is None or not self.has_change_permission(request, obj):
            return iter(())
        return super()._get_fsm_extra_context(request=request, obj=obj)

    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        # Refuse outright (403) instead of django-fsm's redirect: a viewer, or the author
        # trying to approve their own version, must not get as far as the form.
        if transition_name not in self.fsm_services:
            raise Http404(f"no transition {transition_name!r}")
        obj = self.get_object(request, object_id)
        if obj is not None:
            transition = self._get_fsm_transition_by_name(obj=obj, transition_name=transition_name)
            if not self.has_change_permission(request, obj) or not transition.has_perm(
                obj, user=request.user
            ):
                raise PermissionDenied(
                    f"you may not {transition_name} this {obj._meta.verbose_name}"
                )
        return super().fsm_transition_view(request, object_id, transition_name, **kwargs)

    def _apply_fsm_transition(self, *, obj, transition_name: str, request, kwargs=None) -> bool:
        service = self.fsm_services.get(transition_name)
        if service is None:
            self.message_user(request, f"'{transition_name}' is not available here", messages.ERROR)
            return False
        try:
            service(obj, request, **(kwargs or {}))
        except DomainError as exc:
            detail = exc.message
            if hasattr(exc, "errors"):
                detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
            self.message_user(request, f"{transition_name} refused: {detail}", messages.ERROR)
            return False
        except (TransitionNotAllowed, ConcurrentTransition) as exc:
            self.message_user(request, f"{transition_name} refused: {exc}", messages.ERROR)
            return False
        self.message_user(request, f"{transition_name}: done", messages.SUCCESS)
        return True


def has_reviewer_perm(request) -> bool:
    return request.user.has_perm("governance.review")


def run_bulk_service(modeladmin: admin.ModelAdmin, request, queryset, fn: ServiceCall, label: str):
    """Apply a service to each selected object, reporting successes and refusals."""
    done, refused = 0, []
    for obj in queryset:
        try:
            fn(obj)
            done += 1
        except (DomainError, TransitionNotAllowed, ConcurrentTransition) as exc:
            refused.append(f"{obj}: {getattr(exc, 'message', exc)}")
    if done:
        modeladmin.message_user(request, f"{label}: {done} done", messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, f"{label} refused for {line}", messages.WARNING)
