"""The checkpoint queue as a work page: what to decide first (priority, then age), how long it
has waited, when it expires, and a link to the page where its subject is decided."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from governance.control_room import admin_url, subject_label, subject_url
from governance.models import Checkpoint, CheckpointPriority, CheckpointState

PRIORITY_TONE = {CheckpointPriority.CRITICAL: "danger", CheckpointPriority.HIGH: "warn"}


def short_duration(delta: dt.timedelta) -> str:
    """A duration as a reviewer reads it at a glance: "45 min", "5 h", "3 d"."""
    seconds = abs(delta.total_seconds())
    if seconds < 3600:
        return f"{max(int(seconds // 60), 1)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


class CheckpointQueueMixin:
    """List display of the checkpoint admin: one row per checkpoint, most urgent first. Every
    column is computed from the row itself (the subject's link from its type and id), so a
    page of the queue costs one query."""

    list_display = [
        "priority_label",
        "what",
        "subject_link",
        "age",
        "expiry",
        "blocking",
        "state",
        "tenant",
    ]
    list_display_links = ["priority_label"]
    ordering = ["priority", "created_at", "id"]

    @admin.display(description="priority", ordering="priority")
    def priority_label(self, obj: Checkpoint):
        tone = PRIORITY_TONE.get(obj.priority, "")
        return format_html(
            '<span class="tone-{}">{}</span>',
            tone or "none",
            CheckpointPriority(obj.priority).label,
        )

    @admin.display(description="checkpoint")
    def what(self, obj: Checkpoint):
        return format_html(
            '<strong>{}</strong><span class="detail">{}</span>',
            obj.checkpoint_type,
            obj.description,
        )

    @admin.display(description="decide on")
    def subject_link(self, obj: Checkpoint):
        url = subject_url(obj.subject_type, obj.subject_id)
        if url is not None:
            return format_html(
                '<a class="decide" href="{}">{} →</a>',
                url,
                subject_label(obj.subject_type, obj.subject_id),
            )
        # No subject: the checkpoint itself is decided on its own page.
        return format_html(
            '<a class="decide" href="{}">this checkpoint →</a>',
            admin_url(Checkpoint, "change", obj.pk),
        )

    @admin.display(description="waiting", ordering="created_at")
    def age(self, obj: Checkpoint):
        end = obj.resolved_at or timezone.now()
        return format_html(
            '<span title="opened {} UTC">{}</span>',
            f"{obj.created_at:%Y-%m-%d %H:%M}",
            short_duration(end - obj.created_at),
        )

    @admin.display(description="expires", ordering="expires_at")
    def expiry(self, obj: Checkpoint):
        if obj.expires_at is None:
            return "never" if not obj.blocking else "never (blocking)"
        label = f"{obj.expires_at:%Y-%m-%d %H:%M} UTC"
        if obj.state != CheckpointState.PENDING:
            return label
        left = obj.expires_at - timezone.now()
        if left.total_seconds() <= 0:
            text, tone = f"expired {short_duration(left)} ago", "muted"
        else:
            text, tone = (
                f"in {short_duration(left)}",
                "warn" if left < dt.timedelta(hours=6) else "",
            )
        return format_html(
            '<span class="tone-{}" title="{}">{}</span>', tone or "none", label, text
        )
