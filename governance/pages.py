"""Reviewer pages inside the admin that are not a model's change form: the diff-and-decide
page of a config version. Views decide nothing: they call the version services."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.response import TemplateResponse
from django.urls import Resolver404, path, resolve
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from governance import selectors
from governance.admin.base import has_reviewer_perm
from governance.control_room import admin_url, collect_version_sections
from governance.errors import DomainError
from governance.models import ConfigVersion, VersionState
from governance.services import versions as version_services
from governance.services.ledger import Actor


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("submit", "submit"),
            ("approve", "approve"),
            ("reject", "reject"),
            ("activate", "activate"),
            ("rebase", "rebase"),
        ]
    )
    # Optional here only because submitting needs none: every other decision is a human act
    # whose service refuses a missing reason, and the page reports that refusal.
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=2000, required=False
    )
    acknowledge_breaking = forms.BooleanField(required=False)


def _error_text(exc: Exception) -> str:
    if hasattr(exc, "errors"):
        return "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.errors.items())
    return getattr(exc, "message", str(exc))


def _apply(decision: str, *, version: ConfigVersion, user, data: dict) -> ConfigVersion:
    if decision == "submit":
        return version_services.version_submit(version=version, actor=Actor.for_user(user))
    if decision == "approve":
        return version_services.version_approve(version=version, user=user, reason=data["reason"])
    if decision == "reject":
        return version_services.version_reject(version=version, user=user, reason=data["reason"])
    if decision == "rebase":
        return version_services.version_rebase(version=version, user=user, reason=data["reason"])
    return version_services.version_activate(
        version=version,
        user=user,
        reason=data["reason"],
        acknowledge_breaking=data["acknowledge_breaking"],
    )


def _with_json(changes: list[dict]) -> list[dict]:
    return [
        {**c, "old_json": json.dumps(c["old"]), "new_json": json.dumps(c["new"])} for c in changes
    ]


def version_decide(request, pk: int):
    version = get_object_or_404(ConfigVersion.objects.select_related("tenant", "family"), pk=pk)
    if (
        not request.user.is_superuser
        and not selectors.tenants_for_user(request.user).filter(pk=version.tenant_id).exists()
    ):
        raise Http404("no such version")
    if request.method == "POST":
        form = DecisionForm(request.POST)
        if not has_reviewer_perm(request):
            messages.error(request, "only reviewers can decide config versions")
        elif form.is_valid():
            decision = form.cleaned_data["decision"]
            try:
                result = _apply(
                    decision, version=version, user=request.user, data=form.cleaned_data
                )
            except (DomainError, TransitionNotAllowed, ConcurrentTransition) as exc:
                messages.error(request, f"{decision} refused: {_error_text(exc)}")
            else:
                messages.success(request, f"{decision}: done")
                if result.pk != version.pk:  # a rebase: the new version needs its own review
                    return redirect("govloop-version-decide", pk=result.pk)
        else:
            messages.error(request, f"invalid decision: {form.errors.as_text()}")
        return redirect("govloop-version-decide", pk=version.pk)

    diff = selectors.version_review_diff(version=version)
    active = selectors.active_version(tenant_id=version.tenant_id, family=version.family.name)
    approvals = list(version.approvals.select_related("reviewer").order_by("created_at"))
    is_reviewer = has_reviewer_perm(request)
    is_contributor = Actor.for_user(request.user).label in version_services.contributors_of(version)
    undecided = version.state in version_services.REBASABLE_STATES
    stale = undecided and version_services.is_stale(version, active)
    three_way = version_services.version_three_way(version, active) if stale else None
    history = [
        {"entry": e, "payload_json": json.dumps(e.payload, sort_keys=True)}
        for e in selectors.ledger_for_subject(subject=version)
    ]
    context = {
        **admin.site.each_context(request),
        "title": f"Decide {version.family.name} v{version.version}",
        "version": version,
        "active": active,
        "diff": _with_json(diff["changes"]),
        "diff_against": diff["against"],
        "diff_relation": diff["relation"],
        "payload_json": json.dumps(version.payload, indent=2, sort_keys=True),
        "changes": version.changes or [],
        "warnings": version_services.activation_warnings(version, active)
        if version.state == VersionState.APPROVED
        else [],
        "approvals": approvals,
        "required": version.family.approvals_required,
        "sections": collect_version_sections(version=version),
        "history": history,
        "contributors": version_services.contributors_of(version),
        "stale": stale,
        "three_way": three_way
        and {
            **three_way,
            "base_to_active": _with_json(three_way["base_to_active"]),
            "base_to_proposal": _with_json(three_way["base_to_proposal"]),
        },
        "rollback_reports": [
            {"report": r, "diff_rows": _with_json(r.diff.get("changes", []))}
            for r in selectors.rollback_reports_for(version=version)
        ],
        "can_decide": is_reviewer
        and not is_contributor
        and version.state == VersionState.PENDING_APPROVAL,
        "can_reject": is_reviewer and version.state == VersionState.PENDING_APPROVAL,
        "can_activate": is_reviewer and version.state == VersionState.APPROVED and not stale,
        "can_rebase": is_reviewer and stale,
        "can_submit": is_reviewer and version.state == VersionState.DRAFT,
        "is_author": is_contributor,
        "change_url": admin_url(ConfigVersion, "change", version.pk),
        "list_url": admin_url(ConfigVersion, query=f"tenant__id__exact={version.tenant_id}"),
        "opts": ConfigVersion._meta,
    }
    return TemplateResponse(request, "admin/govloop/version_decide.html", context)


def _rollout_page(request, pk: int):
    # Imported here: the rollout page builds on this module's helpers.
    from governance.rollout_page import rollout_page

    return rollout_page(request, pk)


urlpatterns = [
    path(
        "rollouts/<int:pk>/",
        admin.site.admin_view(_rollout_page),
        name="govloop-rollout",
    ),
    path(
        "versions/<int:pk>/decide/",
        admin.site.admin_view(version_decide),
        name="govloop-version-decide",
    ),
]


def require_visible(request, tenant_id: int) -> None:
    """404 unless the user sees this tenant (another tenant's ids are not found, never 403)."""
    if request.user.is_superuser:
        return
    if not selectors.tenants_for_user(request.user).filter(pk=tenant_id).exists():
        raise Http404("not found")


def render_chart_page(
    request,
    *,
    title: str,
    tenant,
    charts: list[tuple[str, str]],
    sections: list | None = None,
    intro: str = "",
    back: tuple[str, str] | None = None,
):
    """A reviewer page of SVG charts (``(svg, caption)`` pairs) and row sections."""
    context = {
        **admin.site.each_context(request),
        "title": title,
        "tenant": tenant,
        "charts": charts,
        "sections": sections or [],
        "intro": intro,
        "back": back,
    }
    return TemplateResponse(request, "admin/govloop/chart_page.html", context)


MODEL_VIEW_ACTIONS = {
    "changelist": "view",
    "change": "view",
    "history": "view",
    "add": "add",
    "delete": "delete",
}
REVIEW_PERMISSION = "governance.review"


def _required_permission(request) -> tuple[str, str]:
    """(codename, description) of the model permission an admin URL needs, or empty strings
    when the URL is not a model's admin view (the refusal's own message then says why)."""
    try:
        url_name = resolve(request.path_info).url_name or ""
    except Resolver404:
        return "", ""
    for model in admin.site._registry:
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}_"
        if not url_name.startswith(prefix):
            continue
        view = url_name.removeprefix(prefix)
        if view in MODEL_VIEW_ACTIONS:
            action = MODEL_VIEW_ACTIONS[view]
            if view == "change" and request.method == "POST":
                action = "change"
            return (
                f"{opts.app_label}.{action}_{opts.model_name}",
                f"Can {action} {opts.verbose_name}",
            )
        # A transition or lever (approve, release, engage...): a reviewer's decision.
        if not request.user.has_perm(REVIEW_PERMISSION):
            return REVIEW_PERMISSION, "Can take reviewer decisions"
        return "", ""
    return "", ""


def permission_denied(request, exception=None):
    """Django's 403 handler as a page of the admin: what was refused, the permission it needs
    and the way back to the control room, instead of a bare "403 Forbidden"."""
    codename, description = _required_permission(request)
    reason = str(exception or "").strip()
    user = request.user
    context = {
        **(admin.site.each_context(request) if user.is_authenticated else {}),
        "title": "You may not do this",
        "reason": reason,
        "permission": codename,
        "permission_label": description,
        "groups": sorted(user.groups.values_list("name", flat=True))
        if user.is_authenticated
        else [],
        "path": request.path,
    }
    return render(request, "admin/govloop/permission_denied.html", context, status=403)
