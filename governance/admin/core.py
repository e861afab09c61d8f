import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from governance import selectors
from governance.admin.base import (
    ReasonForm,
    ServiceFSMAdminMixin,
    TenantScopedAdminMixin,
    has_reviewer_perm,
    run_bulk_service,
)
from governance.control_room import collect_version_sections, decide_url
from governance.models import (
    ApiToken,
    Checkpoint,
    CheckpointConfig,
    CheckpointState,
    ConfigFamily,
    ConfigVersion,
    LedgerAnchor,
    LedgerEntry,
    Membership,
    Tenant,
)
from governance.services import checkpoints as checkpoint_services
from governance.services import versions as version_services
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_revoke


class MembershipInline(admin.TabularInline):
    model = Membership
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "pk"
    list_display = ["slug", "name", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        if request.user.is_superuser:
            return super(TenantScopedAdminMixin, self).get_queryset(request)
        return selectors.tenants_for_user(request.user)


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant", "user"]
    raw_id_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # Tokens are created with `manage.py create_api_token`, which shows the raw value once.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        actor = Actor.for_user(request.user)
        run_bulk_service(
            self,
            request,
            queryset,
            lambda token: api_token_revoke(token=token, actor=actor),
            "revoke",
        )


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["seq", "tenant", "kind", "subject_type", "subject_id", "actor", "created_at"]
    list_filter = ["tenant", "kind", "subject_type", "actor"]
    search_fields = ["actor", "subject_id", "kind"]
    list_select_related = ["tenant"]
    ordering = ["-tenant_id", "-seq"]
    show_full_result_count = False


@admin.register(LedgerAnchor)
class LedgerAnchorAdmin(ReadOnlyAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["tenant", "seq", "hash", "created_at"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]


@admin.register(ConfigFamily)
class ConfigFamilyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "tenant", "approvals_required"]
    list_filter = ["tenant"]
    list_select_related = ["tenant"]


class ActivateForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    acknowledge_breaking = forms.BooleanField(
        required=False,
        help_text="Required when the version declares a breaking change or its schema is "
        "incompatible with the active one.",
    )


def _approve(obj, request, reason):
    return version_services.version_approve(version=obj, user=request.user, reason=reason)


def _reject(obj, request, reason):
    return version_services.version_reject(version=obj, user=request.user, reason=reason)


def _activate(obj, request, reason="", acknowledge_breaking=False):
    return version_services.version_activate(
        version=obj, user=request.user, reason=reason, acknowledge_breaking=acknowledge_breaking
    )


def _deprecate(obj, request, reason):
    return version_services.version_deprecate(version=obj, user=request.user, reason=reason)


def _rollback(obj, request, reason):
    return version_services.version_rollback(version=obj, user=request.user, reason=reason)


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    fsm_forms = {
        "approve": ReasonForm,
        "reject": ReasonForm,
        "activate": ActivateForm,
        "deprecate": ReasonForm,
        "rollback": ReasonForm,
    }
    fsm_services = {
        "approve": _approve,
        "reject": _reject,
        "activate": _activate,
        "deprecate": _deprecate,
        "rollback": _rollback,
    }
    list_display = ["__str__", "tenant", "state", "source", "created_by_label", "created_at"]
    list_filter = ["tenant", "family__name", "state", "source"]
    list_select_related = ["tenant", "family"]
    raw_id_fields = ["base_version", "created_by", "activated_by"]
    search_fields = ["version", "description"]
    readonly_fields = [
        "tenant",
        "family",
        "version",
        "source",
        "pretty_payload",
        "changes",
        "created_by_label",
        "created_at",
        "submitted_at",
        "approved_at",
        "rejected_at",
        "rejection_reason",
        "activated_at",
        "deactivated_at",
        "approvals_view",
        "diff_view",
        "review_sections",
        "history_view",
    ]
    exclude = ["payload", "created_by", "activated_by"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="payload")
    def pretty_payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    @admin.display(description="approvals")
    def approvals_view(self, obj):
        rows = obj.approvals.select_related("reviewer")
        return (
            format_html_join(
                mark_safe("<br>"),
                "{} — {} ({}){}",
                (
                    (a.reviewer, a.reason, a.created_at, " VOIDED" if a.voided_at else "")
                    for a in rows
                ),
            )
            or "—"
        )

    @admin.display(description="diff against the active version")
    def diff_view(self, obj):
        diff = selectors.version_diff(version=obj)
        if not diff["changes"]:
            return "no differences"
        return format_html(
            "<p>against v{}</p><table><tr><th>path</th><th>op</th><th>active</th><th>this</th></tr>{}</table>",
            diff["against"] or "(none active)",
            format_html_join(
                "",
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (c["path"], c["op"], json.dumps(c["old"]), json.dumps(c["new"]))
                    for c in diff["changes"]
                ),
            ),
        )

    @admin.display(description="history (ledger)")
    def history_view(self, obj):
        entries = list(selectors.ledger_for_subject(subject=obj))
        rows = format_html_join(
            "",
            "<tr><td>#{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            ((e.seq, e.created_at, e.kind, e.actor, json.dumps(e.payload)[:300]) for e in entries),
        )
        chains = [e for e in entries if isinstance(e.payload.get("chain"), list)]
        return format_html(
            '<p><a href="{}">Diff and decide →</a></p><table>{}</table>{}',
            decide_url(obj),
            rows,
            format_html_join("", "{}", ((_provenance_table(e),) for e in chains)),
        )

    @admin.display(description="findings, sandbox report and provenance")
    def review_sections(self, obj):
        sections = collect_version_sections(version=obj)
        if not sections:
            return "—"
        return format_html_join(
            "",
            "<h3>{}</h3><table>{}</table>",
            (
                (
                    section.title,
                    format_html_join(
                        "",
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        ((r.label, r.value, r.detail) for r in section.rows),
                    ),
                )
                for section in sections
            ),
        )


def _provenance_table(entry) -> str:
    """The learning loop's failure -> proposal -> sandbox -> promotion chain, step by step,
    read from the ledger payload alone (governance never imports learning)."""
    return format_html(
        "<h3>Provenance (ledger #{})</h3><table><tr><th>step</th><th>id</th><th>ledger #</th>"
        "<th>sha256</th></tr>{}</table>",
        entry.seq,
        format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (
                    step.get("step", ""),
                    step.get("id", ""),
                    step.get("ledger_seq", step.get("seq", "")),
                    str(step.get("sha256", ""))[:16],
                )
                for step in entry.payload["chain"]
                if isinstance(step, dict)
            ),
        ),
    )


class CheckpointStateFilter(admin.SimpleListFilter):
    """The queue opens on PENDING; "all states" is an explicit choice."""

    title = "state"
    parameter_name = "state"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*CheckpointState.choices, (self.ALL, "All states")]

    def value(self):
        return super().value() or CheckpointState.PENDING

    def queryset(self, request, queryset):
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(state=self.value())

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


@admin.register(Checkpoint)
class CheckpointAdmin(ServiceFSMAdminMixin, TenantScopedAdminMixin, admin.ModelAdmin):
    """The reviewers' queue: pending first, by priority then age."""

    fsm_fields = ["state"]
    fsm_forms = {"approve": ReasonForm, "reject": ReasonForm}
    fsm_services = {
        "approve": lambda obj, request, reason: checkpoint_services.checkpoint_resolve(
            checkpoint=obj, approve=True, user=request.user, reason=reason
        ),
        "reject": lambda obj, request, reason: checkpoint_services.checkpoint_resolve(
            checkpoint=obj, approve=False, user=request.user, reason=reason
        ),
    }
    list_display = [
        "checkpoint_type",
        "priority",
        "state",
        "blocking",
        "tenant",
        "description",
        "created_at",
        "expires_at",
    ]
    list_filter = [CheckpointStateFilter, "priority", "checkpoint_type", "blocking", "tenant"]
    list_select_related = ["tenant"]
    raw_id_fields = ["resolved_by"]
    ordering = ["priority", "created_at", "id"]
    readonly_fields = [
        "tenant",
        "checkpoint_type",
        "subject_type",
        "subject_id",
        "description",
        "confidence",
        "priority",
        "blocking",
        "created_at",
        "expires_at",
        "resolved_at",
        "resolved_by",
        "resolution_reason",
    ]
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return False

    def _bulk(self, request, queryset, approve: bool):
        if not has_reviewer_perm(request):
            self.message_user(request, "only reviewers can resolve checkpoints")
            return
        run_bulk_service(
            self,
            request,
            queryset.filter(state=CheckpointState.PENDING),
            lambda cp: checkpoint_services.checkpoint_resolve(
                checkpoint=cp,
                approve=approve,
                user=request.user,
                reason=f"bulk {'approval' if approve else 'rejection'} in the admin queue",
            ),
            "approve" if approve else "reject",
        )

    @admin.action(description="Approve selected checkpoints")
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, True)

    @admin.action(description="Reject selected checkpoints")
    def reject_selected(self, request, queryset):
        self._bulk(request, queryset, False)


@admin.register(CheckpointConfig)
class CheckpointConfigAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["tenant", "auto_approve_confidence", "auto_dismiss_hours", "max_pending"]
    list_select_related = ["tenant"]
