import datetime as dt

import pytest
from django.utils import timezone

from governance.models import (
    Checkpoint,
    CheckpointConfig,
    CheckpointPriority,
    CheckpointState,
    LedgerEntry,
)
from governance.services.checkpoints import (
    CheckpointQueueFull,
    checkpoint_auto_dismiss_expired,
    checkpoint_open,
    checkpoint_resolve,
)
from governance.tasks import checkpoints_auto_dismiss

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def open_checkpoint(tenant, **kwargs):
    kwargs.setdefault("checkpoint_type", "custom")
    kwargs.setdefault("description", "look at this")
    kwargs.setdefault("now", NOW)
    return checkpoint_open(tenant=tenant, **kwargs)


def configure(tenant, **values):
    config, _ = CheckpointConfig.objects.get_or_create(tenant=tenant)
    for name, value in values.items():
        setattr(config, name, value)
    config.save()
    return config


def test_an_expired_non_blocking_checkpoint_is_auto_dismissed_and_a_blocking_one_is_not(tenant):
    configure(tenant, auto_dismiss_hours=24)
    loose = open_checkpoint(tenant)
    blocking = open_checkpoint(tenant, blocking=True)
    fresh = open_checkpoint(tenant, now=NOW + dt.timedelta(hours=20))

    dismissed = checkpoint_auto_dismiss_expired(now=NOW + dt.timedelta(hours=25))

    assert dismissed == 1
    states = dict(Checkpoint.objects.values_list("pk", "state"))
    assert states[loose.pk] == CheckpointState.AUTO_DISMISSED
    assert states[blocking.pk] == CheckpointState.PENDING
    assert states[fresh.pk] == CheckpointState.PENDING


def test_running_the_auto_dismissal_twice_changes_nothing_more(tenant):
    configure(tenant, auto_dismiss_hours=1)
    for _ in range(3):
        open_checkpoint(tenant)
    later = NOW + dt.timedelta(hours=2)
    assert checkpoint_auto_dismiss_expired(now=later) == 3
    entries = LedgerEntry.objects.count()
    snapshot = list(Checkpoint.objects.order_by("pk").values_list("state", "resolved_at"))

    assert checkpoint_auto_dismiss_expired(now=later + dt.timedelta(minutes=15)) == 0

    assert LedgerEntry.objects.count() == entries
    assert list(Checkpoint.objects.order_by("pk").values_list("state", "resolved_at")) == snapshot


def seed_expired(tenant, count, now):
    Checkpoint.objects.bulk_create(
        Checkpoint(
            tenant=tenant,
            checkpoint_type="custom",
            description=f"#{n}",
            created_at=now,
            expires_at=now + dt.timedelta(hours=1),
        )
        for n in range(count)
    )


def test_auto_dismissal_issues_as_many_queries_for_300_rows_as_for_3(tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    open_checkpoint(tenant, blocking=True)  # the tenant's ledger head and config exist
    counts = []
    for rows, now in ((3, NOW), (300, NOW + dt.timedelta(days=1))):
        seed_expired(tenant, rows, now)
        with CaptureQueriesContext(connection) as queries:
            assert checkpoint_auto_dismiss_expired(now=now + dt.timedelta(hours=2)) == rows
        counts.append(len(queries))

    assert counts[0] == counts[1]


def test_the_beat_task_dismisses_expired_checkpoints(tenant):
    configure(tenant, auto_dismiss_hours=1)
    checkpoint = open_checkpoint(tenant, now=timezone.now() - dt.timedelta(hours=2))

    assert checkpoints_auto_dismiss.apply().get() == 1

    checkpoint.refresh_from_db()
    assert checkpoint.state == CheckpointState.AUTO_DISMISSED


def test_past_max_pending_a_normal_checkpoint_is_refused_and_a_critical_one_accepted(tenant):
    configure(tenant, max_pending=2)
    open_checkpoint(tenant)
    open_checkpoint(tenant)

    with pytest.raises(CheckpointQueueFull, match="max_pending=2"):
        open_checkpoint(tenant, priority="NORMAL")
    critical = open_checkpoint(tenant, priority="CRITICAL")

    assert critical.state == CheckpointState.PENDING
    assert critical.priority == CheckpointPriority.CRITICAL
    assert Checkpoint.objects.filter(tenant=tenant).count() == 3


def test_a_checkpoint_at_the_auto_approve_confidence_is_approved_at_creation(tenant):
    configure(tenant, auto_approve_confidence=0.9, auto_approve_types=["custom"])

    sure = open_checkpoint(tenant, confidence=0.9)
    unsure = open_checkpoint(tenant, confidence=0.89)
    sure_but_blocking = open_checkpoint(tenant, confidence=0.99, blocking=True)

    assert sure.state == CheckpointState.AUTO_APPROVED
    assert unsure.state == CheckpointState.PENDING
    assert sure_but_blocking.state == CheckpointState.PENDING
    assert LedgerEntry.objects.filter(kind="checkpoint.auto_approved").count() == 1


def test_the_tenant_config_overrides_priority_and_blocking_and_switches_types_off(tenant):
    configure(
        tenant,
        priority_overrides={"drift_alert": "HIGH"},
        blocking_types=["drift_alert"],
        enabled_types=["drift_alert"],
    )

    drift = open_checkpoint(tenant, checkpoint_type="drift_alert", priority="LOW")
    ignored = open_checkpoint(tenant, checkpoint_type="custom")

    assert drift.priority == CheckpointPriority.HIGH
    assert drift.blocking
    assert drift.expires_at is None
    assert ignored is None


def test_a_reviewer_resolves_a_checkpoint_and_the_ledger_names_them(tenant, reviewer):
    checkpoint = open_checkpoint(tenant)

    checkpoint = checkpoint_resolve(
        checkpoint=checkpoint, approve=False, user=reviewer, reason="false alarm"
    )

    assert checkpoint.state == CheckpointState.REJECTED
    entry = LedgerEntry.objects.filter(kind="checkpoint.rejected").get()
    assert entry.actor == "user:rita"


def test_a_viewer_cannot_resolve_a_checkpoint(tenant, viewer):
    from governance.errors import Forbidden

    checkpoint = open_checkpoint(tenant)

    with pytest.raises(Forbidden):
        checkpoint_resolve(checkpoint=checkpoint, approve=True, user=viewer, reason="ok")


# --- finding 8: auto-approval is reachable and bounded ----------------------------------------


def test_auto_approval_applies_only_to_the_types_the_tenant_allows(tenant):
    configure(tenant, auto_approve_confidence=0.8, auto_approve_types=["review_request"])

    allowed = open_checkpoint(tenant, checkpoint_type="review_request", confidence=0.95)
    not_allowed = open_checkpoint(tenant, checkpoint_type="custom", confidence=0.95)

    assert allowed.state == CheckpointState.AUTO_APPROVED
    assert not_allowed.state == CheckpointState.PENDING


def test_without_a_configured_level_nothing_is_auto_approved(tenant):
    configure(tenant, auto_approve_confidence=None, auto_approve_types=["review_request"])

    checkpoint = open_checkpoint(tenant, checkpoint_type="review_request", confidence=1.0)

    assert checkpoint.state == CheckpointState.PENDING


@pytest.mark.parametrize(
    "checkpoint_type",
    [
        "config_approval",
        "tripwire_triggered",
        "policy_demoted",
        "settings_change",
        "rollout_aborted",
    ],
)
def test_the_never_auto_types_stay_pending_even_when_a_tenant_lists_them(tenant, checkpoint_type):
    configure(tenant, auto_approve_confidence=0.5, auto_approve_types=[checkpoint_type])

    checkpoint = open_checkpoint(tenant, checkpoint_type=checkpoint_type, confidence=1.0)

    assert checkpoint.state == CheckpointState.PENDING
    assert not LedgerEntry.objects.filter(kind="checkpoint.auto_approved").exists()


def test_a_checkpoint_decided_through_its_subject_is_never_auto_approved(tenant):
    from tests.factories.levers import RegressionPolicyFactory  # a row with a tenant

    configure(tenant, auto_approve_confidence=0.5, auto_approve_types=["drift_alert"])
    subject = RegressionPolicyFactory(tenant=tenant)

    about_subject = open_checkpoint(
        tenant, checkpoint_type="drift_alert", confidence=1.0, subject=subject
    )

    # Auto-approving it would say "approved" in the queue while the subject stays undecided.
    assert about_subject.state == CheckpointState.PENDING


def test_an_auto_approved_checkpoint_names_its_opener_on_the_ledger(tenant):
    from governance.services.ledger import Actor

    configure(tenant, auto_approve_confidence=0.9, auto_approve_types=["review_request"])

    checkpoint = open_checkpoint(
        tenant,
        checkpoint_type="review_request",
        confidence=0.91,
        actor=Actor(kind="token", name="ingest"),
    )

    entry = LedgerEntry.objects.get(kind="checkpoint.auto_approved")
    assert (entry.subject_id, entry.actor) == (str(checkpoint.pk), "token:ingest")
    assert entry.payload["confidence"] == 0.91
