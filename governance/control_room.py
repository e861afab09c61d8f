"""The admin home as a control room: one page per tenant, assembled from panels.

Each app contributes its panels from an optional ``<app>/control_room.py`` module with a
function ``panels(*, tenant) -> list[Panel]`` (and, for the diff-and-decide page, an optional
``version_sections(*, version) -> list[Section]``). Discovery keeps the import direction:
governance never imports a higher app; the higher apps import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from typing import Any

from django.apps import apps
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import module_has_submodule

from governance.models import (
    Checkpoint,
    CheckpointPriority,
    CheckpointState,
    ConfigVersion,
    Rollout,
    Tenant,
    VersionState,
)
from governance.models.levers import GoLiveState

MODULE = "control_room"
TONES = ("ok", "warn", "danger", "muted")


@dataclass
class Row:
    label: str
    value: str = ""
    url: str | None = None
    tone: str = ""
    detail: str = ""
    key: str = ""


@dataclass
class Panel:
    """A titled list of rows; ``empty`` says what an empty panel means (a new tenant)."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    link: str | None = None
    link_label: str = "open"
    empty: str = "nothing here yet"
    tone: str = ""
    order: int = 50
    svg: str = ""


@dataclass
class Section:
    """A block on the diff-and-decide page: rows, a preformatted text, or a chart."""

    title: str
    rows: list[Row] = field(default_factory=list)
    text: str = ""
    markdown: str = ""
    svg: str = ""
    link: str | None = None
    empty: str = ""


def admin_url(model_or_label: Any, view: str = "changelist", *args, query: str = "") -> str | None:
    """The admin URL of a model's view, or None when that model has no admin (yet)."""
    if isinstance(model_or_label, str):
        app_label, model_name = model_or_label.split(".")
    else:
        app_label, model_name = model_or_label._meta.app_label, model_or_label._meta.model_name
    try:
        url = reverse(f"admin:{app_label}_{model_name.lower()}_{view}", args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{query}" if query else url


def _contributors() -> Iterable[Any]:
    for config in apps.get_app_configs():
        if module_has_submodule(config.module, MODULE):
            yield import_module(f"{config.name}.{MODULE}")


def collect_panels(*, tenant: Tenant) -> list[Panel]:
    found: list[Panel] = []
    for module in _contributors():
        contribute = getattr(module, "panels", None)
        if contribute is not None:
            found.extend(contribute(tenant=tenant))
    return sorted(found, key=lambda p: (p.order, p.title))


def collect_version_sections(*, version: ConfigVersion) -> list[Section]:
    found: list[Section] = []
    for module in _contributors():
        contribute = getattr(module, "version_sections", None)
        if contribute is not None:
            found.extend(contribute(version=version))
    return found


def decide_url(version: ConfigVersion) -> str:
    return reverse("govloop-version-decide", args=[version.pk])


SubjectPage = Callable[[str], "str | None"]


@cache
def _subject_pages() -> dict[str, SubjectPage]:
    found: dict[str, SubjectPage] = {}
    for module in _contributors():
        contribute = getattr(module, "subject_pages", None)
        if contribute is not None:
            found.update(contribute())
    return found


def subject_url(subject_type: str, subject_id: str) -> str | None:
    """The page where a subject (``app_label.model`` and id, as a checkpoint or a ledger entry
    names it) is decided: the page its app declares in ``subject_pages()`` (a version's decide
    page, a tripwire's KPI page, a policy's regret page), else the subject's admin page."""
    if not subject_type or not subject_id:
        return None
    page = _subject_pages().get(subject_type)
    if page is not None:
        return page(subject_id)
    if "." not in subject_type:
        return None
    return admin_url(subject_type, "change", subject_id)


def subject_label(subject_type: str, subject_id: str) -> str:
    """ "config version #3": the subject's model name and id, without reading the subject."""
    if not subject_type:
        return ""
    try:
        name = apps.get_model(subject_type)._meta.verbose_name
    except (LookupError, ValueError):
        name = subject_type
    return f"{name} #{subject_id}"


def subject_pages() -> dict[str, SubjectPage]:
    return {
        ConfigVersion._meta.label_lower: lambda pk: reverse("govloop-version-decide", args=[pk])
    }


# governance's own panels -------------------------------------------------------------


def _go_live_panel(tenant: Tenant) -> Panel:
    state = GoLiveState.objects.filter(tenant=tenant).first()
    url = (
        admin_url(GoLiveState, "change", state.pk)
        if state
        else admin_url(GoLiveState, query=f"tenant__id__exact={tenant.pk}")
    )
    panel = Panel(key="go-live", title="Go-live and kill switch", link=url, order=10)
    if state is None:
        panel.rows.append(Row("production execution", "disabled (never enabled)", url, "warn"))
        panel.tone = "warn"
        return panel
    if state.kill_switch_engaged:
        panel.rows.append(
            Row(
                "kill switch",
                "ENGAGED",
                admin_url(GoLiveState, "release", state.pk),
                "danger",
                f"{state.reason} (click to release, with a reason)",
            )
        )
        panel.tone = "danger"
    else:
        panel.rows.append(
            Row(
                "kill switch",
                "released",
                admin_url(GoLiveState, "engage", state.pk),
                "ok",
                "click to engage it, with a reason",
            )
        )
    panel.rows.append(
        Row(
            "go-live",
            "enabled" if state.enabled else "disabled",
            url,
            "ok" if state.enabled else "warn",
        )
    )
    panel.rows.append(
        Row("last change", f"{state.changed_by or '—'} at {state.changed_at:%Y-%m-%d %H:%M} UTC")
    )
    return panel


def _checkpoint_panel(tenant: Tenant) -> Panel:
    pending = Checkpoint.objects.filter(tenant=tenant, state=CheckpointState.PENDING)
    link = admin_url(Checkpoint, query=f"state__exact=PENDING&tenant__id__exact={tenant.pk}")
    panel = Panel(
        key="checkpoints",
        title="Pending checkpoints",
        link=link,
        link_label="work the queue",
        empty="the queue is empty",
        order=20,
    )
    counts = dict(
        pending.values_list("priority").annotate(n=Count("id")).values_list("priority", "n")
    )
    for priority in CheckpointPriority:
        if counts.get(priority.value):
            tone = "danger" if priority == CheckpointPriority.CRITICAL else ""
            panel.rows.append(
                Row(
                    priority.label,
                    str(counts[priority.value]),
                    admin_url(
                        Checkpoint,
                        query=f"state__exact=PENDING&tenant__id__exact={tenant.pk}"
                        f"&priority__exact={priority.value}",
                    ),
                    tone,
                )
            )
    for checkpoint in pending.order_by("priority", "created_at", "id")[:5]:
        panel.rows.append(
            Row(
                f"{CheckpointPriority(checkpoint.priority).label} · {checkpoint.checkpoint_type}",
                "blocking" if checkpoint.blocking else "",
                admin_url(Checkpoint, "change", checkpoint.pk),
                "danger" if checkpoint.blocking else "",
                checkpoint.description[:140],
            )
        )
    if counts.get(CheckpointPriority.CRITICAL.value):
        panel.tone = "danger"
    return panel


def _versions_panel(tenant: Tenant) -> Panel:
    panel = Panel(
        key="versions",
        title="Config versions",
        link=admin_url(ConfigVersion, query=f"tenant__id__exact={tenant.pk}"),
        empty="no config version registered",
        order=30,
    )
    active = ConfigVersion.objects.filter(tenant=tenant, state=VersionState.ACTIVE).select_related(
        "family"
    )
    for version in active.order_by("family__name"):
        panel.rows.append(
            Row(
                f"{version.family.name} (active)",
                f"v{version.version}",
                decide_url(version),
                "ok",
                f"activated {version.activated_at:%Y-%m-%d %H:%M} UTC"
                if version.activated_at
                else "",
            )
        )
    waiting = ConfigVersion.objects.filter(
        tenant=tenant, state__in=[VersionState.PENDING_APPROVAL, VersionState.APPROVED]
    ).select_related("family")
    for version in waiting.order_by("created_at")[:5]:
        panel.rows.append(
            Row(
                f"{version.family.name} v{version.version}",
                "awaits approval"
                if version.state == VersionState.PENDING_APPROVAL
                else "approved, not active",
                decide_url(version),
                "warn",
                (version.description or "")[:140],
            )
        )
    return panel


def _rollouts_panel(tenant: Tenant) -> Panel:
    panel = Panel(key="rollouts", title="Guarded rollouts", empty="no rollout", order=35)
    rows = Rollout.objects.filter(tenant=tenant).select_related("family", "candidate")
    for rollout in rows.order_by("-created_at", "-id")[:5]:
        tone = {"ABORTED": "bad", "RUNNING": "warn", "PAUSED": "warn", "COMPLETED": "ok"}
        panel.rows.append(
            Row(
                f"{rollout.family.name} v{rollout.candidate.version}",
                f"{rollout.state} {rollout.percent}%",
                reverse("govloop-rollout", args=[rollout.pk]),
                tone.get(rollout.state, ""),
                (rollout.analysis or {}).get("decision", ""),
            )
        )
    return panel


def panels(*, tenant: Tenant) -> list[Panel]:
    return [
        _go_live_panel(tenant),
        _checkpoint_panel(tenant),
        _versions_panel(tenant),
        _rollouts_panel(tenant),
    ]


def control_room(*, user, tenant_slug: str | None) -> dict[str, Any]:
    """The context of the admin home: the tenants the user sees, the chosen one and its
    panels."""
    from governance.selectors import tenants_for_user

    tenants = list(tenants_for_user(user).order_by("slug"))
    if not tenants:
        return {"tenants": [], "tenant": None, "panels": []}
    chosen = next((t for t in tenants if t.slug == tenant_slug), None)
    if chosen is None:
        chosen = next((t for t in tenants if t.slug == "demo"), tenants[0])
    return {"tenants": tenants, "tenant": chosen, "panels": collect_panels(tenant=chosen)}


def version_sections(*, version: ConfigVersion) -> list[Section]:
    """The decide page shows the version's guarded rollout plan (the reviewer who starts the
    rollout approves it) and where the rollout stands."""
    rollout = (
        Rollout.objects.filter(candidate=version).select_related("approved_by").order_by("-id")
    ).first()
    if rollout is None:
        return []
    rows = [
        Row(
            f"stage {i}",
            f"{stage['percent']}%",
            None,
            "",
            f"min {stage.get('min_duration_seconds', 0)} s, min "
            f"{stage.get('min_decisions', 0)} decisions per cohort",
        )
        for i, stage in enumerate(rollout.stages)
    ]
    rows += [
        Row(
            f"guard {guard['metric']}",
            f"max {guard['max_relative_regression']:.0%} relative regression",
            None,
            "",
            f"{guard['test']} at alpha {rollout.significance_level}",
        )
        for guard in rollout.guards
    ]
    approver = rollout.approved_by.get_username() if rollout.approved_by_id else "not yet approved"
    rows.append(Row("state", f"{rollout.state} {rollout.percent}%", None, "", approver))
    return [
        Section(
            title="Guarded rollout plan",
            rows=rows,
            link=reverse("govloop-rollout", args=[rollout.pk]),
        )
    ]
