"""Admin of the active learning loop: cases, runs with their pass rates, failures with their
analysis, proposals with their sandbox reports side by side and the gate's verdict line by
line. Every change goes through ``learning.services.loop``."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from governance.admin.base import (
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
    run_bulk_service,
)
from governance.formatting import percentage_points, render_markdown
from governance.services.ledger import Actor
from learning.models import (
    BacktestCase,
    BacktestResult,
    BacktestRun,
    FailureAnalysis,
    LoopProposal,
    ProposalState,
    SandboxRun,
)
from learning.services import loop as services


def _pretty(document) -> str:
    return format_html(
        "<pre style='white-space:pre-wrap'>{}</pre>",
        json.dumps(document, indent=2, sort_keys=True),
    )


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BacktestCaseForm(forms.ModelForm):
    class Meta:
        model = BacktestCase
        fields = [
            "tenant",
            "case_id",
            "description",
            "features",
            "expected_decision",
            "expected_flags",
            "expected_escalate",
            "protected",
        ]

    def clean(self):
        cleaned = super().clean()
        for field, messages in services._case_errors(cleaned).items():
            if field in self.fields:
                self.add_error(field, messages)
        return cleaned


@admin.register(BacktestCase)
class BacktestCaseAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    form = BacktestCaseForm
    list_display = ["case_id", "tenant", "expected_decision", "protected", "active", "updated_at"]
    list_filter = ["tenant", "protected", "active", "expected_decision"]
    list_select_related = ["tenant"]
    search_fields = ["case_id", "description"]
    actions = ["retire"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "case_id", "active"] if obj else ["active"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        # Only the fields the form edits: the admin's generated Meta also lists the read-only
        # ones (cleaned to None), which would write ``active = NULL``.
        data = {
            name: form.cleaned_data.get(name)
            for name in BacktestCaseForm.Meta.fields
            if name in form.fields
        }
        data.pop("tenant", None)
        if change:
            data.pop("case_id", None)
            # The service compares with the stored row: ``obj`` already carries the form's
            # values, so the change would look like no change at all.
            stored = BacktestCase.objects.get(pk=obj.pk)
            saved = services.backtest_case_update(case=stored, data=data, actor=actor)
        else:
            saved = services.backtest_case_create(
                tenant=form.cleaned_data["tenant"], data=data, actor=actor
            )
        obj.pk = saved.pk

    @admin.action(description="Retire the selected cases (no longer replayed)")
    def retire(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset,
            lambda c: services.backtest_case_delete(case=c, actor=actor),
            "retire",
        )


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "run_id",
        "tenant",
        "version_label",
        "trigger",
        "case_count",
        "pass_rate_pct",
        "hit_count",
        "miss_count",
        "abstain_count",
        "failure_count",
        "started_at",
    ]
    list_filter = ["tenant", "trigger"]
    list_select_related = ["tenant", "config_version__family"]
    search_fields = ["run_id"]
    readonly_fields = [
        "run_id",
        "tenant",
        "config_version",
        "trigger",
        "case_count",
        "pass_rate_pct",
        "hit_count",
        "miss_count",
        "abstain_count",
        "avg_score",
        "results_sha256",
        "started_at",
        "finished_at",
        "links",
    ]
    exclude = ["idempotency_key", "pass_rate"]
    actions = ["rerun"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_failures=Count("failures"))

    @admin.display(description="config")
    def version_label(self, obj):
        return f"{obj.config_version.family.name} v{obj.config_version.version}"

    @admin.display(description="pass rate", ordering="pass_rate")
    def pass_rate_pct(self, obj):
        return f"{obj.pass_rate:.1%}"

    @admin.display(description="failures analysed", ordering="_failures")
    def failure_count(self, obj):
        return getattr(obj, "_failures", None)

    @admin.display(description="results and failures")
    def links(self, obj):
        results = reverse("admin:learning_backtestresult_changelist") + f"?run__id__exact={obj.pk}"
        failures = (
            reverse("admin:learning_failureanalysis_changelist") + f"?run__id__exact={obj.pk}"
        )
        return format_html(
            '<a href="{}">per-case results</a> · <a href="{}">failure analyses</a>',
            results,
            failures,
        )

    @admin.action(description="Backtest again under the same config version")
    def rerun(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset,
            lambda run: services.backtest_run_execute(
                tenant=run.tenant,
                actor=actor,
                config_version=run.config_version,
                analyze_failures=True,
            ),
            "backtest",
        )


@admin.register(BacktestResult)
class BacktestResultAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "run__tenant"
    list_display = ["run", "case", "status", "decision", "score", "confidence", "escalate"]
    list_filter = ["status", "confidence", "run__tenant"]
    list_select_related = ["run", "case"]
    raw_id_fields = ["run", "case"]
    search_fields = ["case__case_id", "run__run_id"]
    show_full_result_count = False


@admin.register(FailureAnalysis)
class FailureAnalysisAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "failure_id",
        "tenant",
        "hypothesis",
        "status_and_score",
        "state",
        "proposal_link",
    ]
    list_filter = ["tenant", "state", "hypothesis"]
    list_select_related = ["tenant", "result", "proposal"]
    search_fields = ["failure_id"]
    readonly_fields = [
        "failure_id",
        "tenant",
        "run",
        "case",
        "state",
        "hypothesis",
        "analysis",
        "artifact_view",
        "artifact_sha256",
        "proposal_link",
        "created_at",
        "resolved_at",
    ]
    exclude = ["artifact", "markdown", "result"]
    actions = ["propose"]

    @admin.display(description="result")
    def status_and_score(self, obj):
        result = obj.artifact["backtest_result"]
        return (
            f"{result['status']} {result['decision']} ({result['score']}, {result['confidence']})"
        )

    @admin.display(description="analysis")
    def analysis(self, obj):
        return render_markdown(obj.markdown)

    @admin.display(description="artifact (JSON)")
    def artifact_view(self, obj):
        return _pretty(obj.artifact)

    @admin.display(description="proposal")
    def proposal_link(self, obj):
        proposal = getattr(obj, "proposal", None)
        if proposal is None:
            return "—"
        url = reverse("admin:learning_loopproposal_change", args=[proposal.pk])
        return format_html('<a href="{}">{}</a> ({})', url, proposal.proposal_id, proposal.state)

    @admin.action(description="Generate the bounded proposal")
    def propose(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset,
            lambda failure: services.proposal_generate(failure=failure, actor=actor),
            "propose",
        )


def _sandbox(obj, request, **_form):
    return services.proposal_sandbox(proposal=obj, actor=Actor.for_user(request.user))


def _promote(obj, request, **_form):
    return services.proposal_promote(proposal=obj, actor=Actor.for_user(request.user), strict=True)


@admin.register(LoopProposal)
class LoopProposalAdmin(ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    fsm_services = {"sandbox": _sandbox, "promote": _promote}
    list_display = [
        "proposal_id",
        "tenant",
        "kind",
        "change_text",
        "expected_delta",
        "state",
        "promoted_version",
        "created_at",
    ]
    list_filter = ["tenant", "state", "kind"]
    list_select_related = ["tenant", "promoted_version", "base_version"]
    search_fields = ["proposal_id"]
    readonly_fields = [
        "proposal_id",
        "tenant",
        "failure_link",
        "case",
        "kind",
        "state",
        "base_version",
        "change_text",
        "declared_vs_sandbox",
        "sandbox_reports",
        "document_view",
        "document_sha256",
        "declared_threshold",
        "promoted_version_link",
        "created_at",
        "sandboxed_at",
        "promoted_at",
    ]
    exclude = ["change", "proposed_payload", "document", "failure", "promoted_version"]
    actions = ["sandbox_selected", "promote_selected"]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # Nothing on the page is editable: the transition buttons call the services.
        return None

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="change")
    def change_text(self, obj):
        return f"{obj.change['path']}: {obj.change['old']} → {obj.change['new']}"

    @admin.display(description="expected Δ pass rate")
    def expected_delta(self, obj):
        return percentage_points(obj.document["expected_delta"]["backtest_pass_rate_delta"])

    @admin.display(description="failure")
    def failure_link(self, obj):
        url = reverse("admin:learning_failureanalysis_change", args=[obj.failure_id])
        return format_html('<a href="{}">{}</a>', url, obj.failure.failure_id)

    @admin.display(description="promoted version")
    def promoted_version_link(self, obj):
        if obj.promoted_version_id is None:
            return "—"
        url = reverse("admin:governance_configversion_change", args=[obj.promoted_version_id])
        return format_html('<a href="{}">{}</a>', url, obj.promoted_version)

    @admin.display(description="declared vs sandbox")
    def declared_vs_sandbox(self, obj):
        latest = obj.sandbox_runs.order_by("-executed_at", "-id").first()
        report = latest.report if latest else None
        details = report["case_details"] if report else []
        return render_to_string(
            "learning/loop/declared_vs_sandbox.html",
            {
                "document": obj.document,
                "report": report,
                "fixed": [c["case_id"] for c in details if c["improved"]],
                "regressed": [
                    c["case_id"] + (" (protected)" if c["protected"] else "")
                    for c in details
                    if c["regressed"]
                ],
            },
        )

    @admin.display(description="sandbox reports")
    def sandbox_reports(self, obj):
        runs = list(obj.sandbox_runs.order_by("-executed_at", "-id")[:3])
        return render_to_string("learning/loop/sandbox_reports.html", {"runs": runs})

    @admin.display(description="proposal document")
    def document_view(self, obj):
        return _pretty(obj.document)

    @admin.action(description="Run the sandbox and the gate (3 runs)")
    def sandbox_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset.filter(state=ProposalState.PROPOSED),
            lambda p: services.proposal_sandbox(proposal=p, actor=actor),
            "sandbox",
        )

    @admin.action(description="Promote (registers a version for approval; strict re-check)")
    def promote_selected(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset,
            lambda p: services.proposal_promote(proposal=p, actor=actor, strict=True),
            "promote",
        )


@admin.register(SandboxRun)
class SandboxRunAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "sandbox_run_id",
        "tenant",
        "runs",
        "pass_rate_delta",
        "promotion_eligible",
        "executed_at",
    ]
    list_filter = ["tenant", "promotion_eligible"]
    list_select_related = ["tenant"]
    search_fields = ["sandbox_run_id"]
    readonly_fields = [
        "sandbox_run_id",
        "tenant",
        "proposal",
        "runs",
        "report_view",
        "report_sha256",
    ]
    exclude = ["report", "measurements", "promotion_eligible", "executed_at"]

    @admin.display(description="Δ pass rate")
    def pass_rate_delta(self, obj):
        return percentage_points(obj.report["delta"]["pass_rate_delta"])

    @admin.display(description="report")
    def report_view(self, obj):
        return render_to_string(
            "learning/loop/sandbox_report.html",
            {"report": obj.report, "measurements": obj.measurements},
        )
