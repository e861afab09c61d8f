"""Admin of the calibration pipeline: snapshots, reports with their findings, proposals with
their change summary beside the diff against the active version. All read-only: the
pipeline's rows are written by its services; a proposal is approved on its config version."""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from calibration.models import (
    CalibrationFinding,
    CalibrationReport,
    ConfigProposal,
    Decision,
    MetricsSnapshot,
)
from calibration.selectors import proposal_for_version
from governance.admin.base import TenantScopedAdminMixin
from governance.models import ConfigVersion
from governance.selectors import version_diff


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _pre(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def change_summary_html(summary: dict) -> str:
    changes = summary.get("changes") or []
    if not changes:
        return format_html("<p>{}</p>", summary.get("message") or "no changes")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td><code>{}</code></td><td>{} → {}</td><td>{} [{}] {}</td>"
        "<td>{}</td><td>{} band / {} decision</td></tr>",
        (
            (
                c["id"],
                c["path"],
                json.dumps(c["old"]),
                json.dumps(c["new"]),
                c["finding"]["code"],
                c["finding"]["severity"],
                c["finding"]["title"],
                c["rationale"],
                f"{c['impact']['band_change_share']:.1%}",
                f"{c['impact']['decision_change_share']:.1%}",
            )
            for c in changes
        ),
    )
    unchanged = format_html_join(
        "",
        "<li>{} {}: {}</li>",
        (
            (u["finding"], u["title"], u["reason"])
            for u in summary.get("findings_without_change", [])
        ),
    )
    return format_html(
        "<table><tr><th>change</th><th>path</th><th>value</th><th>finding</th>"
        "<th>rationale</th><th>impact (share of decisions)</th></tr>{}</table>"
        "<p>all changes together: {} of decisions change band</p>{}",
        rows,
        f"{summary.get('impact', {}).get('band_change_share', 0.0):.1%}",
        format_html("<p>findings without a change:</p><ul>{}</ul>", unchanged) if unchanged else "",
    )


def diff_html(version: ConfigVersion) -> str:
    diff = version_diff(version=version)
    if not diff["changes"]:
        return "no differences"
    return format_html(
        "<p>against active v{}</p><table><tr><th>path</th><th>active</th><th>proposed</th></tr>"
        "{}</table>",
        diff["against"] or "(none)",
        format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            ((c["path"], json.dumps(c["old"]), json.dumps(c["new"])) for c in diff["changes"]),
        ),
    )


def calibration_summary_html(version: ConfigVersion) -> str:
    """For the ConfigVersion admin (a readonly field): the calibration change summary of the
    version beside its diff against the active version, or a dash for other versions."""
    proposal = proposal_for_version(version)
    if proposal is None:
        return "—"
    return format_html(
        '<table><tr><td style="vertical-align:top">{}</td>'
        '<td style="vertical-align:top">{}</td></tr></table>',
        change_summary_html(proposal.change_summary),
        diff_html(version),
    )


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "tenant", "window_days", "decision_count", "config_version"]
    list_filter = ["tenant", "window_days"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"
    fields = [
        "tenant",
        "created_at",
        "window_start",
        "window_end",
        "window_days",
        "privacy_k",
        "decision_count",
        "config_version",
        "metrics_view",
    ]
    readonly_fields = fields

    @admin.display(description="metrics")
    def metrics_view(self, obj):
        return _pre(obj.metrics)


class CalibrationFindingInline(admin.TabularInline):
    model = CalibrationFinding
    extra = 0
    can_delete = False
    fields = ["code", "severity", "kind", "title", "numbers_view"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="numbers")
    def numbers_view(self, obj):
        return _pre(obj.numbers)


@admin.register(CalibrationReport)
class CalibrationReportAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "tenant", "config_version", "finding_count", "proposal_link"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "snapshot", "proposal"]
    raw_id_fields = ["snapshot"]
    inlines = [CalibrationFindingInline]
    fields = [
        "tenant",
        "snapshot",
        "created_at",
        "config_version",
        "parameters",
        "summary",
        "proposal_link",
    ]
    readonly_fields = fields

    @admin.display(description="findings")
    def finding_count(self, obj):
        return obj.summary.get("findings", 0)

    @admin.display(description="proposal")
    def proposal_link(self, obj):
        proposal = getattr(obj, "proposal", None)
        if proposal is None:
            return "—"
        url = reverse("admin:calibration_configproposal_change", args=[proposal.pk])
        return format_html('<a href="{}">{}</a>', url, proposal.message)


@admin.register(ConfigProposal)
class ConfigProposalAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "tenant", "status", "version_link", "created_at"]
    list_filter = ["tenant", "status"]
    list_select_related = ["tenant", "proposed_version", "proposed_version__family"]
    fields = [
        "tenant",
        "report",
        "status",
        "message",
        "base_version",
        "version_link",
        "created_at",
        "summary_view",
    ]
    readonly_fields = fields

    @admin.display(description="proposed version")
    def version_link(self, obj):
        version = obj.proposed_version
        if version is None:
            return "—"
        url = reverse("admin:governance_configversion_change", args=[version.pk])
        return format_html('<a href="{}">v{} ({})</a>', url, version.version, version.state)

    @admin.display(description="change summary | diff against the active version")
    def summary_view(self, obj):
        if obj.proposed_version is None:
            return change_summary_html(obj.change_summary)
        return calibration_summary_html(obj.proposed_version)


@admin.register(Decision)
class DecisionAdmin(ReadOnlyMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "client_id",
        "tenant",
        "band",
        "score",
        "confidence",
        "escalated",
        "tier",
        "config_version",
        "decided_at",
        "was_correct",
    ]
    list_filter = ["tenant", "band", "escalated", "was_correct"]
    list_select_related = ["tenant"]
    search_fields = ["client_id"]
    ordering = ["-id"]  # the primary key index: no sort over millions of rows
    show_full_result_count = False
