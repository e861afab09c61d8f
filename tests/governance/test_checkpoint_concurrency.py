"""The queue and the subject decided at the same moment, by real threads on PostgreSQL: one
decision wins, the other is refused cleanly (no deadlock, no disagreement)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from governance.errors import DomainError
from governance.models import Checkpoint, CheckpointState, LedgerEntry, VersionState
from governance.services.checkpoints import checkpoint_resolve
from governance.services.ledger import Actor
from governance.services.versions import version_approve, version_register
from tests.factories import scoring_payload

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.mark.parametrize("attempt", range(5))
def test_approving_the_checkpoint_and_the_version_at_once_approves_once(
    tenant, author, reviewer, second_reviewer, attempt
):
    version = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        submit=True,
    )
    checkpoint = Checkpoint.objects.get(subject_id=str(version.pk))
    barrier = threading.Barrier(2)

    def through_queue():
        return checkpoint_resolve(
            checkpoint=checkpoint, approve=True, user=reviewer, reason="queue"
        )

    def on_the_version():
        return version_approve(version=version, user=second_reviewer, reason="version")

    def run(decide):
        barrier.wait()
        try:
            decide()
            return "done"
        except DomainError as exc:
            return type(exc).__name__
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run, [through_queue, on_the_version]))

    assert outcomes.count("done") == 1, outcomes
    version.refresh_from_db()
    checkpoint.refresh_from_db()
    assert (version.state, checkpoint.state) == (VersionState.APPROVED, CheckpointState.APPROVED)
    assert LedgerEntry.objects.filter(kind="version.approved").count() == 1
