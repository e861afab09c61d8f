"""Admin of the learning proofs: learned policies with their regret and transition buttons
(which call the services), preventions and regret events inline, the graduation dashboard and
each incident's prevention timeline with its narrative."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from governance.admin.base import (
    GovernedAdminMixin,
    ReasonForm,
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
    has_reviewer_perm,
)
from governance.errors import DomainError
from governance.selectors import tenants_for_user
from governance.services.ledger import Actor
from learning import selectors_proofs as selectors
from learning.models.proofs import (
    Incident,
    LearnedPolicy,
    Pattern,
    PreventionRecord,
    RegretEvent,
)
from learning.services import proofs as services


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False
    )


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PreventionRecordInline(ReadOnlyMixin, admin.TabularInline):
    model = PreventionRecord
    fk_name = "policy"
    fields = [
        "created_at",
        "outcome",
        "signature_match_confidence",
        "match_band",
        "blocked_incident",
        "time_since_policy",
        "calls_evaluated",
        "recorded_by",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    show_change_link = True
    max_num = 0


class RegretEventInline(ReadOnlyMixin, admin.TabularInline):
    model = RegretEvent
    fk_name = "policy"
    fields = [
        "created_at",
        "regret_type",
        "severity",
        "score_after",
        "affected_calls",
        "affected_users",
        "impact_duration",
        "was_auto_rolled_back",
        "manual_override_by",
        "recorded_by",
    ]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0
    max_num = 0


@admin.register(Pattern)
class PatternAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["key", "name", "tenant", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]
    search_fields = ["key", "name"]


def _tenant_visible(request, tenant_id: int) -> bool:
    return request.user.is_superuser or tenants_for_user(request.user).filter(pk=tenant_id).exists()


@admin.register(Incident)
class IncidentAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "tenant", "pattern", "severity", "occurred_at", "timeline_link"]
    list_filter = ["tenant", "severity"]
    list_select_related = ["tenant", "pattern"]
    search_fields = ["signature", "title", "pattern__key"]
    date_hierarchy = "occurred_at"

    @admin.display(description="prevention timeline")
    def timeline_link(self, obj):
        url = reverse("admin:learning_incident_timeline", args=[obj.pk])
        return format_html('<a href="{}">timeline</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/timeline/",
                self.admin_site.admin_view(self.timeline_view),
                name="learning_incident_timeline",
            ),
            *super().get_urls(),
        ]

    def timeline_view(self, request, pk: int):
        """The seed's console timeline: ordered events and the narrative. A reviewer records
        it as the console proof (gate 3) with the button."""
        incident = get_object_or_404(Incident.objects.select_related("tenant", "pattern"), pk=pk)
        if not _tenant_visible(request, incident.tenant_id):
            raise Http404("no such incident")
        if request.method == "POST":
            try:
                services.timeline_record_console_proof(incident=incident, user=request.user)
            except DomainError as exc:
                detail = getattr(exc, "errors", None) or exc.message
                self.message_user(request, f"console proof refused: {detail}", messages.ERROR)
            else:
                self.message_user(request, "console proof recorded (gate 3)", messages.SUCCESS)
            return redirect(request.path)
        timeline = selectors.prevention_timeline(incident=incident)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Prevention timeline of {incident}",
            "opts": self.model._meta,
            "incident": incident,
            "console": timeline.to_console(),
            "proof": incident.console_proofs.select_related("recorded_by").first(),
            "can_prove": has_reviewer_perm(request) and timeline.is_learning_proof,
        }
        return TemplateResponse(request, "learning/proofs/timeline.html", context)


def _activate(obj, request, reason):
    return services.policy_activate(policy=obj, user=request.user, reason=reason)


def _demote(obj, request, reason):
    return services.policy_demote(policy=obj, user=request.user, reason=reason)


def _reinstate(obj, request, reason):
    return services.policy_reinstate(policy=obj, user=request.user, reason=reason)


def _retire(obj, request, reason):
    return services.policy_retire(policy=obj, actor=Actor.for_user(request.user), reason=reason)


@admin.register(LearnedPolicy)
class LearnedPolicyAdmin(
    GovernedAdminMixin, ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin
):
    change_list_template = "learning/proofs/policy_change_list.html"
    fsm_fields = ["state"]
    fsm_forms = {
        "activate": ReasonForm,
        "demote": ReasonForm,
        "reinstate": ReasonForm,
        "retire": ReasonForm,
    }
    fsm_services = {
        "activate": _activate,
        "demote": _demote,
        "reinstate": _reinstate,
        "retire": _retire,
    }
    list_display = [
        "name",
        "tenant",
        "pattern",
        "state",
        "regret_now",
        "regret_count",
        "auto_demote_score",
        "auto_demotions",
        "prevention_count",
        "recurrence_count",
        "born_at",
    ]
    list_filter = ["tenant", "state", "demoted_automatically"]
    list_select_related = ["tenant", "pattern"]
    search_fields = ["name", "pattern__key"]
    raw_id_fields = ["source_incident", "demoted_by", "reinstated_by"]
    inlines = [PreventionRecordInline, RegretEventInline]
    readonly_fields = [
        "tenant",
        "pattern",
        "source_incident_link",
        "name",
        "born_at",
        "created_by_label",
        "activated_at",
        "auto_demote_score",
        "auto_demote_count",
        "decay_rate",
        "regret_score",
        "regret_now",
        "regret_count",
        "regret_total",
        "last_decayed_at",
        "auto_demotions",
        "prevention_count",
        "recurrence_count",
        "demoted_at",
        "demoted_reason",
        "demoted_automatically",
        "demoted_by",
        "reinstated_at",
        "reinstated_by",
        "retired_at",
    ]
    exclude = ["source_incident"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="regret now")
    def regret_now(self, obj):
        return f"{selectors.current_regret_score(policy=obj):.2f}"

    @admin.display(description="born from")
    def source_incident_link(self, obj):
        url = reverse("admin:learning_incident_timeline", args=[obj.source_incident_id])
        return format_html('<a href="{}">incident #{} (timeline)</a>', url, obj.source_incident_id)

    def get_urls(self):
        return [
            path(
                "graduation/",
                self.admin_site.admin_view(self.graduation_view),
                name="learning_graduation",
            ),
            *super().get_urls(),
        ]

    def graduation_view(self, request):
        """The seed's M25 graduation dashboard: the three gates per tenant, with evidence and
        the next action."""
        tenants = list(tenants_for_user(request.user).order_by("slug"))
        slug = request.GET.get("tenant")
        tenant = next((t for t in tenants if t.slug == slug), None) if slug else None
        if slug and tenant is None:
            raise Http404("no such tenant")
        tenant = tenant or (tenants[0] if tenants else None)
        dashboard = (
            selectors.graduation_status(tenant_id=tenant.pk).to_dashboard() if tenant else None
        )
        proofs = []
        if dashboard:
            proofs = [
                (incident_id, reverse("admin:learning_incident_timeline", args=[incident_id]))
                for incident_id in dashboard["gates"]["gate3_console"]["evidence"]["incident_ids"]
            ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Learning graduation",
            "opts": self.model._meta,
            "tenants": tenants,
            "tenant": tenant,
            "dashboard": dashboard,
            "proof_links": proofs,
        }
        return TemplateResponse(request, "learning/proofs/graduation.html", context)


@admin.register(PreventionRecord)
class PreventionRecordAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "tenant",
        "policy",
        "pattern",
        "outcome",
        "signature_match_confidence",
        "match_band",
        "calls_evaluated",
    ]
    list_filter = ["tenant", "outcome", "match_band"]
    list_select_related = ["tenant", "policy", "pattern"]
    raw_id_fields = ["policy", "original_incident", "blocked_incident"]
    show_full_result_count = False


@admin.register(RegretEvent)
class RegretEventAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "tenant",
        "policy",
        "regret_type",
        "severity",
        "score_after",
        "was_auto_rolled_back",
        "manual_override_by",
    ]
    list_filter = ["tenant", "regret_type", "was_auto_rolled_back"]
    list_select_related = ["tenant", "policy", "manual_override_by"]
    raw_id_fields = ["policy", "manual_override_by"]
    show_full_result_count = False
