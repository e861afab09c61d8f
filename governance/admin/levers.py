"""Admin for the control levers: go-live with enable/disable and kill-switch buttons (reason
form), risk policies with today's totals and reservation ledger, charter policies with the
day's scorecard. Every change goes through a service, which writes the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, DecimalField, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from governance.admin.base import ReasonForm, TenantScopedAdminMixin, has_reviewer_perm
from governance.admin.settings import GovernedSettingsAdminMixin, SettingsChangeForm
from governance.errors import DomainError
from governance.models import (
    CharterPolicy,
    GoLiveState,
    RiskDay,
    RiskPolicy,
    RiskReservation,
    SandboxTrial,
)
from governance.services import levers
from governance.services.ledger import Actor


def reason_action_view(
    modeladmin: admin.ModelAdmin,
    request,
    obj,
    *,
    title: str,
    help_text: str,
    on_submit: Callable[[dict], object],
    form_class: type[forms.Form] = ReasonForm,
):
    """A small page with a reason form; on POST it calls the service and returns to the
    object. Shared by the levers' and the tripwire's admin buttons (reviewers only)."""
    if not has_reviewer_perm(request):
        raise PermissionDenied("this is a reviewer's act")
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            on_submit(form.cleaned_data)
        except DomainError as exc:
            detail = exc.message
            if hasattr(exc, "errors"):
                detail = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
            modeladmin.message_user(request, f"{title} refused: {detail}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{title}: done", messages.SUCCESS)
            opts = obj._meta
            return redirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            )
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": obj._meta,
        "original": obj,
        "title": title,
        "help_text": help_text,
        "form": form,
    }
    return TemplateResponse(request, "admin/levers/reason_form.html", context)


def buttons(obj, actions: list[tuple[str, str]]):
    """Links to the object's action pages: [(url name suffix, label)]."""
    opts = obj._meta
    return format_html_join(
        " ",
        '<a class="button" href="{}">{}</a>',
        (
            (reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[obj.pk]), label)
            for name, label in actions
        ),
    )


GO_LIVE_ACTIONS = {
    "enable": ("Enable go-live", levers.go_live_enable, "Production execution will be allowed."),
    "disable": ("Disable go-live", levers.go_live_disable, "PROD_EXEC requests will get 423."),
    "engage": (
        "Engage the kill switch",
        levers.go_live_engage_kill_switch,
        "Every PROD_EXEC request and every risk reservation will be refused.",
    ),
    "release": (
        "Release the kill switch",
        levers.go_live_release_kill_switch,
        "Make sure the cause is understood: production execution resumes if go-live is enabled.",
    ),
}


class GoLiveAddForm(forms.ModelForm):
    class Meta:
        model = GoLiveState
        fields = ["tenant"]


@admin.register(GoLiveState)
class GoLiveStateAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "tenant",
        "enabled",
        "kill_switch_engaged",
        "reason",
        "changed_by",
        "changed_at",
        "lever_buttons",
    ]
    list_select_related = ["tenant"]
    readonly_fields = [
        "tenant",
        "enabled",
        "kill_switch_engaged",
        "reason",
        "changed_by",
        "changed_at",
        "lever_buttons",
    ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = GoLiveAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ["tenant"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="levers")
    def lever_buttons(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        actions = [("disable", "Disable") if obj.enabled else ("enable", "Enable")]
        actions.append(
            ("release", "Release kill switch")
            if obj.kill_switch_engaged
            else ("engage", "Engage kill switch")
        )
        return buttons(obj, actions)

    def get_urls(self):
        def view_for(name):
            def view(request, pk):
                obj = get_object_or_404(self.get_queryset(request), pk=pk)
                title, service, help_text = GO_LIVE_ACTIONS[name]
                return reason_action_view(
                    self,
                    request,
                    obj,
                    title=title,
                    help_text=help_text,
                    on_submit=lambda data: service(
                        tenant=obj.tenant_id,
                        actor=Actor.for_user(request.user),
                        reason=data["reason"],
                    ),
                )

            return self.admin_site.admin_view(view)

        return [
            path(f"<int:pk>/{name}/", view_for(name), name=f"governance_golivestate_{name}")
            for name in GO_LIVE_ACTIONS
        ] + super().get_urls()


def _today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


class RiskPolicyForm(SettingsChangeForm):
    class Meta:
        model = RiskPolicy
        fields = [
            "tenant",
            "engine",
            "enabled",
            "max_daily_loss",
            "max_daily_exposure",
            "max_daily_actions",
        ]


@admin.register(RiskPolicy)
class RiskPolicyAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    form = RiskPolicyForm
    list_display = [
        "engine",
        "tenant",
        "enabled",
        "max_daily_exposure",
        "max_daily_loss",
        "max_daily_actions",
        "open_exposure_today",
        "actions_today",
        "denied_today",
        "disabled_reason",
        "changed_by",
    ]
    list_filter = ["tenant", "enabled"]
    list_select_related = ["tenant"]
    readonly_fields = ["disabled_reason", "changed_by", "changed_at"]
    actions = ["enable_selected", "disable_selected"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["tenant", "engine"]
        return fields

    def get_queryset(self, request):
        today = _today()
        days = RiskDay.objects.filter(
            tenant=OuterRef("tenant"), engine=OuterRef("engine"), day=today
        )
        denied = (
            RiskReservation.objects.filter(
                tenant=OuterRef("tenant"), engine=OuterRef("engine"), day=today, outcome="DENIED"
            )
            .order_by()
            .values("engine")
            .annotate(n=Count("id"))
            .values("n")
        )
        money = DecimalField(max_digits=18, decimal_places=2)
        return (
            super()
            .get_queryset(request)
            .annotate(
                _open=Coalesce(
                    Subquery(days.values("open_exposure")[:1]),
                    Value(Decimal(0)),
                    output_field=money,
                ),
                _actions=Coalesce(Subquery(days.values("actions")[:1]), 0),
                _denied=Coalesce(Subquery(denied[:1], output_field=IntegerField()), 0),
            )
        )

    @admin.display(description="open exposure today", ordering="_open")
    def open_exposure_today(self, obj):
        return obj._open

    @admin.display(description="actions today", ordering="_actions")
    def actions_today(self, obj):
        return obj._actions

    @admin.display(description="denied today", ordering="_denied")
    def denied_today(self, obj):
        return obj._denied

    def save_setting(self, request, obj, data, reason):
        return levers.risk_policy_upsert(
            tenant=obj.tenant_id,
            engine=obj.engine,
            actor=Actor.for_user(request.user),
            reason=reason,
            **{f: data[f] for f in levers.RISK_POLICY_FIELDS if f in data},
        )

    def _bulk(self, request, queryset, enabled: bool):
        if not has_reviewer_perm(request):
            self.message_user(request, "only reviewers change risk policies", messages.ERROR)
            return
        actor = Actor.for_user(request.user)
        done, requested = 0, 0
        for policy in queryset:
            try:
                outcome = levers.risk_policy_upsert(
                    tenant=policy.tenant_id,
                    engine=policy.engine,
                    actor=actor,
                    reason=f"{'enable' if enabled else 'disable'} in the admin",
                    enabled=enabled,
                )
            except DomainError as exc:
                self.message_user(request, f"{policy}: {exc.message}", messages.WARNING)
                continue
            if outcome.pending:
                requested += 1
            else:
                done += 1
        self.message_user(request, f"{done} risk policies updated", messages.SUCCESS)
        if requested:
            # Enabling lets an engine act: each is a change request for another reviewer.
            self.message_user(
                request,
                f"{requested} change requests wait for another reviewer's approval",
                messages.WARNING,
            )

    @admin.action(description="Enable the selected risk policies (requests another reviewer)")
    def enable_selected(self, request, queryset):
        self._bulk(request, queryset, True)

    @admin.action(description="Disable the selected risk policies")
    def disable_selected(self, request, queryset):
        self._bulk(request, queryset, False)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RiskReservation)
class RiskReservationAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    """The reservation ledger; opens on today's reservations."""

    list_display = [
        "id",
        "tenant",
        "engine",
        "day",
        "outcome",
        "denial_reason",
        "exposure",
        "actions",
        "realised_loss",
        "actor",
        "created_at",
    ]
    list_filter = ["day", "outcome", "denial_reason", "engine", "tenant"]
    list_select_related = ["tenant"]
    show_full_result_count = False
    ordering = ["-id"]

    def changelist_view(self, request, extra_context=None):
        if not any(key.startswith("day") for key in request.GET) and not request.GET.get(
            "_changelist_filters"
        ):
            request.GET = request.GET.copy()
            request.GET["day"] = _today().isoformat()
        extra_context = extra_context or {}
        queryset = self.get_queryset(request).filter(day=request.GET.get("day") or _today())
        counts = queryset.order_by().values("outcome", "denial_reason").annotate(n=Count("id"))
        extra_context["subtitle"] = ", ".join(
            f"{row['outcome']}{'/' + row['denial_reason'] if row['denial_reason'] else ''}: "
            f"{row['n']}"
            for row in counts
        )
        return super().changelist_view(request, extra_context)


@admin.register(RiskDay)
class RiskDayAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["day", "engine", "tenant", "open_exposure", "realised_loss", "actions"]
    list_filter = ["day", "engine", "tenant"]
    list_select_related = ["tenant"]
    ordering = ["-day", "engine"]


class CharterPolicyForm(SettingsChangeForm):
    class Meta:
        model = CharterPolicy
        fields = [
            "tenant",
            "domain",
            "min_confidence_prod",
            "min_sandbox_trials",
            "min_success_rate",
        ]


@admin.register(CharterPolicy)
class CharterPolicyAdmin(GovernedSettingsAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    """Per-domain charter and today's sandbox scorecard."""

    form = CharterPolicyForm
    list_display = [
        "domain",
        "tenant",
        "min_confidence_prod",
        "min_sandbox_trials",
        "min_success_rate",
        "trials_today",
        "success_rate_today",
        "trials_total",
        "success_rate_total",
    ]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    readonly_fields = ["changed_by", "changed_at", "scorecard"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["tenant", "domain"]
        return fields

    def get_queryset(self, request):
        start = dt.datetime.combine(_today(), dt.time.min, tzinfo=dt.UTC)
        trials = (
            SandboxTrial.objects.filter(tenant=OuterRef("tenant"), domain=OuterRef("domain"))
            .order_by()
            .values("domain")
        )

        def count(extra: Q) -> Subquery:
            return Coalesce(
                Subquery(
                    trials.filter(extra).annotate(n=Count("id")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                0,
            )

        return (
            super()
            .get_queryset(request)
            .annotate(
                _today=count(Q(created_at__gte=start)),
                _today_ok=count(Q(created_at__gte=start, success=True)),
                _total=count(Q()),
                _total_ok=count(Q(success=True)),
            )
        )

    @admin.display(description="trials today", ordering="_today")
    def trials_today(self, obj):
        return obj._today

    @admin.display(description="success today")
    def success_rate_today(self, obj):
        return f"{obj._today_ok / obj._today:.0%}" if obj._today else "—"

    @admin.display(description="trials (all)", ordering="_total")
    def trials_total(self, obj):
        return obj._total

    @admin.display(description="success (all)")
    def success_rate_total(self, obj):
        return f"{obj._total_ok / obj._total:.0%}" if obj._total else "—"

    @admin.display(description="today's scorecard")
    def scorecard(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        card = levers.heimdall_scorecard(tenant=obj.tenant_id)
        row = next((r for r in card["domains"] if r["domain"] == obj.domain), None)
        if row is None:
            return "no trials"
        return format_html(
            "{} trials today ({} ok); {} in all, success rate {}; eligible at the minimum "
            "confidence: <strong>{}</strong>",
            row["trials_today"],
            row["successes_today"],
            row["trials_total"],
            "—" if row["success_rate_total"] is None else f"{row['success_rate_total']:.0%}",
            "yes" if row["prod_eligible_at_min_confidence"] else "no",
        )

    def save_setting(self, request, obj, data, reason):
        return levers.charter_policy_upsert(
            tenant=obj.tenant_id,
            domain=obj.domain,
            actor=Actor.for_user(request.user),
            reason=reason,
            **{f: data[f] for f in levers.CHARTER_FIELDS if f in data},
        )


@admin.register(SandboxTrial)
class SandboxTrialAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["domain", "tenant", "success", "confidence", "created_at"]
    list_filter = ["domain", "success", "tenant"]
    list_select_related = ["tenant"]
    show_full_result_count = False
    ordering = ["-id"]
