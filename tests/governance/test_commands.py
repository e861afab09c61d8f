from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from governance.demo import DEMO_USERS, demo_raw_token
from governance.models import ApiToken, ConfigVersion, LedgerEntry, VersionState
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from governance.services.tenancy import api_token_revoke

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_a_token_that_authenticates_and_records_its_use(tenant):
    raw = run("create_api_token", "--tenant", tenant.slug, "--name", "ingest").strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.get("/api/governance/config-versions/")

    assert response.status_code == 200
    token = ApiToken.objects.get(tenant=tenant, name="ingest")
    assert token.key_hash != raw and raw not in token.key_hash
    assert token.last_used_at is not None
    assert LedgerEntry.objects.filter(kind="token.created", actor="system:manage.py").exists()


def test_a_revoked_token_from_the_command_is_refused(tenant):
    raw = run("create_api_token", "--tenant", tenant.slug, "--name", "ingest").strip()
    api_token_revoke(token=ApiToken.objects.get(name="ingest"), actor=Actor.system("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get("/api/governance/config-versions/").status_code == 401


def test_create_api_token_refuses_a_duplicate_name_and_an_unknown_tenant(tenant):
    run("create_api_token", "--tenant", tenant.slug, "--name", "ingest")

    with pytest.raises(CommandError, match="already has a token"):
        run("create_api_token", "--tenant", tenant.slug, "--name", "ingest")
    with pytest.raises(CommandError, match="no tenant"):
        run("create_api_token", "--tenant", "nope", "--name", "x")


def test_a_personal_token_carries_its_users_reviewer_rights(tenant, reviewer, author):
    from governance.services.versions import version_register
    from tests.factories import scoring_payload

    version = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
        submit=True,
    )
    raw = run(
        "create_api_token", "--tenant", tenant.slug, "--name", "rita", "--user", "rita"
    ).strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.post(
        f"/api/governance/config-versions/{version.pk}/approve/", {"reason": "ok"}, format="json"
    )

    assert response.status_code == 200
    assert LedgerEntry.objects.filter(kind="version.approved").get().actor == "user:rita"


def test_the_demo_is_idempotent_and_its_printed_logins_and_token_work(settings):
    settings.DEBUG = True
    first = run("demo")
    counts = (ConfigVersion.objects.count(), LedgerEntry.objects.count())

    second = run("demo")

    assert (ConfigVersion.objects.count(), LedgerEntry.objects.count()) == counts
    raw = demo_raw_token()
    assert raw in first and raw in second
    states = dict(
        ConfigVersion.objects.filter(tenant__slug="demo", family__name="scoring").values_list(
            "version", "state"
        )
    )
    assert states["1.0.0"] == VersionState.ACTIVE
    assert states["1.1.0"] == VersionState.PENDING_APPROVAL
    for user in DEMO_USERS:
        assert f"{user.username:<9} {user.password}" in second
        assert Client().login(username=user.username, password=user.password)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/governance/config/scoring/active").json()["version"] == "1.0.0"
    demo_tenant = ConfigVersion.objects.filter(tenant__slug="demo").first().tenant_id
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=demo_tenant)
    assert ledger_verify(tenant_id=demo_tenant).ok


def test_the_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG=1"):
        run("demo")
