"""``POST /api/governance/checkpoints/``: machines and people of a tenant open review requests
(finding 8 of issue 13: auto-approval by confidence was unreachable)."""

import pytest
from rest_framework.test import APIClient

from governance.models import Checkpoint, CheckpointConfig, CheckpointState, LedgerEntry
from governance.services.ledger import Actor
from governance.services.versions import version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db

QUEUE = "/api/governance/checkpoints/"


def allow_auto(tenant, level=0.9, types=("review_request",)):
    CheckpointConfig.objects.update_or_create(
        tenant=tenant,
        defaults={"auto_approve_confidence": level, "auto_approve_types": list(types)},
    )


def test_a_machine_opens_a_review_request_with_a_confidence(api, tenant):
    response = api.post(
        QUEUE,
        {"checkpoint_type": "review_request", "description": "odd spike", "confidence": 0.4},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["checkpoint_type"], body["state"], body["confidence"]) == (
        "review_request",
        CheckpointState.PENDING,
        0.4,
    )
    entry = LedgerEntry.objects.get(kind="checkpoint.opened", subject_id=str(body["id"]))
    assert entry.actor == "token:machine"


def test_a_confident_review_request_is_auto_approved_when_the_tenant_allows_it(api, tenant):
    allow_auto(tenant, level=0.9)

    response = api.post(
        QUEUE,
        {"checkpoint_type": "review_request", "description": "routine", "confidence": 0.95},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["state"] == CheckpointState.AUTO_APPROVED


def test_a_review_request_below_the_level_waits_for_a_human(api, tenant):
    allow_auto(tenant, level=0.9)

    response = api.post(
        QUEUE,
        {"checkpoint_type": "review_request", "description": "unsure", "confidence": 0.5},
        format="json",
    )

    assert response.json()["state"] == CheckpointState.PENDING


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
def test_a_machine_cannot_open_a_system_checkpoint_type(api, tenant, checkpoint_type):
    allow_auto(tenant, level=0.1, types=[checkpoint_type])

    response = api.post(
        QUEUE,
        {"checkpoint_type": checkpoint_type, "description": "approve me", "confidence": 1.0},
        format="json",
    )

    assert response.status_code == 400
    assert "checkpoint_type" in response.json()
    assert not Checkpoint.objects.exists()


def test_a_type_the_tenant_switched_off_is_refused_with_a_clear_error(api, tenant):
    CheckpointConfig.objects.update_or_create(
        tenant=tenant, defaults={"enabled_types": ["review_request"]}
    )

    custom = api.post(QUEUE, {"checkpoint_type": "custom", "description": "x"}, format="json")
    review = api.post(
        QUEUE, {"checkpoint_type": "review_request", "description": "x"}, format="json"
    )

    assert custom.status_code == 400
    assert custom.json() == {"checkpoint_type": ["this tenant does not open custom checkpoints"]}
    assert review.status_code == 201


def test_a_subject_must_be_a_row_of_the_tenant(api, tenant, other_tenant):
    theirs = version_register(
        tenant=other_tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.system("test"),
    )
    ours = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.system("test"),
    )

    def open_about(subject_type, subject_id):
        return api.post(
            QUEUE,
            {
                "checkpoint_type": "review_request",
                "description": "look at this version",
                "subject": {"type": subject_type, "id": str(subject_id)},
            },
            format="json",
        )

    assert open_about("governance.configversion", theirs.pk).status_code == 400
    assert open_about("auth.user", 1).status_code == 400
    assert open_about("no.such", 1).status_code == 400
    created = open_about("governance.configversion", ours.pk)
    assert created.status_code == 201, created.json()
    assert created.json()["subject_id"] == str(ours.pk)


def test_unknown_fields_and_bad_confidences_are_400(api, tenant):
    unknown = api.post(
        QUEUE,
        {"checkpoint_type": "review_request", "description": "x", "opened_by": "user:rita"},
        format="json",
    )
    too_sure = api.post(
        QUEUE,
        {"checkpoint_type": "review_request", "description": "x", "confidence": 1.5},
        format="json",
    )

    assert unknown.status_code == 400 and "opened_by" in unknown.json()
    assert too_sure.status_code == 400 and "confidence" in too_sure.json()
    assert not Checkpoint.objects.exists()


def test_a_person_of_the_tenant_opens_a_review_request_in_their_name(api_as, viewer):
    response = api_as(viewer).post(
        QUEUE, {"checkpoint_type": "review_request", "description": "please check"}, format="json"
    )

    assert response.status_code == 201, response.json()
    assert LedgerEntry.objects.get(kind="checkpoint.opened").actor == "user:vic"


def test_an_anonymous_client_cannot_open_a_checkpoint(tenant):
    response = APIClient().post(
        QUEUE, {"checkpoint_type": "review_request", "description": "x"}, format="json"
    )

    assert response.status_code in (401, 403)
