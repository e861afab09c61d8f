"""Finding 6 of issue 13: a personal token acts only while its user is active, a reviewer and
a member of the token's tenant; it no longer outlives its owner's membership."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from governance.errors import ValidationFailed
from governance.models import ApiToken, LedgerEntry, Membership, VersionState
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(tenant, author):
    return version_register(
        tenant=tenant,
        family="scoring",
        version="9.1.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        submit=True,
    )


@pytest.fixture
def personal(tenant, reviewer):
    _, raw = api_token_create(
        tenant=tenant, name="rita-laptop", user=reviewer, actor=Actor.system("test")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def approve(client, version):
    return client.post(
        f"/api/governance/config-versions/{version.pk}/approve/", {"reason": "ok"}, format="json"
    )


def remove_membership(user, tenant):
    Membership.objects.filter(user=user, tenant=tenant).delete()


def remove_reviewer_group(user, tenant):
    user.groups.remove(Group.objects.get(name="reviewer"))


def deactivate(user, tenant):
    user.is_active = False
    user.save(update_fields=["is_active"])


def test_a_personal_token_of_an_active_reviewer_member_approves(personal, pending):
    assert approve(personal, pending).status_code == 200


@pytest.mark.parametrize(
    "lose",
    [
        pytest.param(remove_membership, id="membership-deleted"),
        pytest.param(remove_reviewer_group, id="removed-from-reviewers"),
        pytest.param(deactivate, id="user-inactive"),
    ],
)
def test_a_personal_token_stops_working_when_its_user_may_no_longer_act(
    personal, pending, reviewer, tenant, lose
):
    lose(reviewer, tenant)

    response = approve(personal, pending)

    assert response.status_code in (401, 403), response.json()
    pending.refresh_from_db()
    assert pending.state == VersionState.PENDING_APPROVAL
    assert not LedgerEntry.objects.filter(kind="version.approved").exists()
    # Reads stop too: the token no longer authenticates at all.
    assert personal.get("/api/governance/config-versions/").status_code == 401


def test_a_machine_token_is_not_affected_by_anyones_membership(api, reviewer, tenant):
    remove_membership(reviewer, tenant)

    assert api.get("/api/governance/config-versions/").status_code == 200


def test_a_personal_token_is_not_created_for_a_non_member(tenant, other_tenant, make_reviewer):
    outsider = make_reviewer("olga", for_tenant=other_tenant)

    with pytest.raises(ValidationFailed) as refused:
        api_token_create(tenant=tenant, name="olga", user=outsider, actor=Actor.system("test"))

    assert "not an active reviewer member of tenant acme" in refused.value.errors["user"][0]
    assert not ApiToken.objects.filter(name="olga").exists()


@pytest.mark.parametrize(
    "lose",
    [
        pytest.param(remove_membership, id="not-a-member"),
        pytest.param(remove_reviewer_group, id="not-a-reviewer"),
        pytest.param(deactivate, id="inactive"),
    ],
)
def test_create_api_token_refuses_a_personal_token_for_a_user_who_may_not_act(
    tenant, reviewer, lose
):
    lose(reviewer, tenant)

    with pytest.raises(CommandError, match="rita is not an active reviewer member of tenant acme"):
        call_command(
            "create_api_token", "--tenant", tenant.slug, "--name", "rita", "--user", "rita"
        )

    assert not ApiToken.objects.filter(name="rita").exists()


def test_a_viewer_gets_no_personal_token(tenant, viewer):
    with pytest.raises(CommandError, match="vic is not an active reviewer member"):
        call_command("create_api_token", "--tenant", tenant.slug, "--name", "vic", "--user", "vic")
