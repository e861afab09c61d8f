import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.models import ConfigFamily, ConfigVersion, LedgerEntry, VersionState
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db

BASE = "/api/governance/config-versions/"


def register(tenant, author, version="1.0.0", submit=True, **payload):
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(**payload),
        actor=Actor.for_user(author),
        submit=submit,
    )


def make_active(tenant, author, reviewer, version="1.0.0", **payload):
    v = register(tenant, author, version, **payload)
    v = version_approve(version=v, user=reviewer, reason="ok")
    return version_activate(version=v, user=reviewer, acknowledge_breaking=True)


def test_a_machine_registers_and_submits_a_version(api, tenant):
    response = api.post(
        BASE,
        {"family": "scoring", "version": "1.0.0", "payload": scoring_payload(), "submit": True},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["state"] == VersionState.PENDING_APPROVAL
    assert response.json()["created_by"] == "token:machine"


def test_a_malformed_payload_is_a_400_naming_the_field_and_nothing_is_stored(api, tenant):
    entries = LedgerEntry.objects.count()
    payload = scoring_payload(thresholds=[0.4, "high"])

    response = api.post(
        BASE, {"family": "scoring", "version": "1.0.0", "payload": payload}, format="json"
    )

    assert response.status_code == 400
    assert "payload.thresholds.1" in response.json()
    assert not ConfigVersion.objects.exists()
    assert not ConfigFamily.objects.filter(tenant=tenant).exists()
    assert LedgerEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"version": "1.0.0", "payload": {}}, "family", id="missing-family"),
        pytest.param(
            {"family": "scoring", "version": "one", "payload": {}}, "version", id="semver"
        ),
        pytest.param(
            {"family": "scoring", "version": "1.0.0", "payload": [1]}, "payload", id="not-object"
        ),
        pytest.param(
            {"family": "scoring", "version": "1.0.0", "payload": {}, "comment": "hi"},
            "comment",
            id="unknown-field",
        ),
        pytest.param(
            {
                "family": "scoring",
                "version": "1.0.0",
                "payload": {},
                "changes": [{"description": "x", "impact": "huge"}],
            },
            "changes",
            id="bad-change",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, body, field):
    response = api.post(BASE, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not ConfigVersion.objects.exists()


def test_an_illegal_transition_is_a_409_with_the_current_state(reviewer_api, tenant, author):
    version = register(tenant, author, submit=False)

    response = reviewer_api.post(f"{BASE}{version.pk}/activate/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["current_state"] == VersionState.DRAFT


def test_a_tenant_a_token_reading_a_tenant_b_version_gets_a_404(api, other_tenant, make_reviewer):
    other_author = make_reviewer("olga", for_tenant=other_tenant)
    theirs = register(other_tenant, other_author)

    assert api.get(f"{BASE}{theirs.pk}/").status_code == 404
    assert api.get(f"{BASE}{theirs.pk}/history/").status_code == 404
    assert api.post(f"{BASE}{theirs.pk}/submit/").status_code == 404
    assert theirs.pk not in [v["id"] for v in api.get(BASE).json()["results"]]


def test_a_reviewer_of_tenant_a_cannot_reach_tenant_b(api_as, reviewer, other_tenant):
    response = api_as(reviewer, for_tenant=other_tenant).get(BASE)

    assert response.status_code == 404


def test_a_machine_token_cannot_take_a_human_decision(api, tenant, author):
    version = register(tenant, author)

    response = api.post(f"{BASE}{version.pk}/approve/", {"reason": "ok"}, format="json")

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.state == VersionState.PENDING_APPROVAL


def test_a_viewer_sees_versions_but_cannot_transition_them(api_as, viewer, tenant, author):
    version = register(tenant, author)
    client = api_as(viewer)

    assert client.get(f"{BASE}{version.pk}/").status_code == 200
    response = client.post(f"{BASE}{version.pk}/approve/", {"reason": "ok"}, format="json")

    assert response.status_code == 403
    version.refresh_from_db()
    assert version.state == VersionState.PENDING_APPROVAL


def test_the_author_approving_through_the_api_is_refused(api_as, tenant, author):
    version = register(tenant, author)

    response = api_as(author).post(
        f"{BASE}{version.pk}/approve/", {"reason": "mine"}, format="json"
    )

    assert response.status_code == 403
    assert "four eyes" in response.json()["detail"]


def test_a_reviewer_approves_and_activates_through_the_api(reviewer_api, tenant, author):
    version = register(tenant, author)

    approved = reviewer_api.post(f"{BASE}{version.pk}/approve/", {"reason": "ok"}, format="json")
    activated = reviewer_api.post(f"{BASE}{version.pk}/activate/", {}, format="json")

    assert approved.status_code == 200
    assert activated.status_code == 200
    assert activated.json()["state"] == VersionState.ACTIVE
    kinds = [e["kind"] for e in reviewer_api.get(f"{BASE}{version.pk}/history/").json()]
    assert kinds == [
        "version.registered",
        "version.submitted",
        "version.approved",
        "version.activated",
    ]


def test_activating_a_breaking_version_through_the_api_needs_acknowledge_breaking(
    reviewer_api, tenant, author, reviewer
):
    make_active(tenant, author, reviewer)
    breaking = version_approve(
        version=version_register(
            tenant=tenant,
            family="scoring",
            version="2.0.0",
            payload=scoring_payload(),
            changes=[{"description": "new semantics", "impact": "breaking"}],
            actor=Actor.for_user(author),
            submit=True,
        ),
        user=reviewer,
        reason="ok",
    )

    refused = reviewer_api.post(f"{BASE}{breaking.pk}/activate/", {}, format="json")
    accepted = reviewer_api.post(
        f"{BASE}{breaking.pk}/activate/", {"acknowledge_breaking": True}, format="json"
    )

    assert refused.status_code == 400
    assert "acknowledge_breaking" in refused.json()
    assert accepted.status_code == 200
    assert accepted.json()["state"] == VersionState.ACTIVE


def test_the_diff_against_the_active_version_lists_changed_leaves(api, tenant, author, reviewer):
    make_active(tenant, author, reviewer)
    proposal = register(tenant, author, "1.1.0", thresholds=[0.45, 0.7])

    diff = api.get(f"{BASE}{proposal.pk}/diff/").json()

    assert diff["against"] == "1.0.0"
    assert diff["changes"] == [{"path": "thresholds[0]", "op": "changed", "old": 0.4, "new": 0.45}]


def test_the_version_list_is_paginated_and_filtered(api, tenant, author):
    register(tenant, author, "1.0.0")
    register(tenant, author, "1.1.0", submit=False)

    body = api.get(BASE, {"state": "DRAFT"}).json()

    assert body["count"] == 1
    assert body["results"][0]["version"] == "1.1.0"


def test_the_runtime_read_is_cached_and_invalidated_on_activation_and_rollback(
    api,
    tenant,
    author,
    reviewer,
    django_capture_on_commit_callbacks,
):
    url = "/api/governance/config/scoring/active"
    assert api.get(url).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        v1 = make_active(tenant, author, reviewer)
    assert api.get(url).json()["version"] == "1.0.0"

    with CaptureQueriesContext(connection) as queries:
        assert api.get(url).json()["version"] == "1.0.0"
    assert not [q for q in queries.captured_queries if "governance_configversion" in q["sql"]]

    with django_capture_on_commit_callbacks(execute=True):
        make_active(tenant, author, reviewer, "1.1.0")
    assert api.get(url).json()["version"] == "1.1.0"

    with django_capture_on_commit_callbacks(execute=True):
        from governance.services.versions import version_rollback

        v1.refresh_from_db()
        version_rollback(version=v1, user=reviewer, reason="regression")
    assert api.get(url).json()["version"] == "1.0.0"


def test_the_runtime_read_serves_the_cache_until_invalidated(api, tenant, author, reviewer):
    make_active(tenant, author, reviewer)
    url = "/api/governance/config/scoring/active"
    api.get(url)
    # Change the row behind the service's back: the cached value is still served, which
    # proves the read comes from the cache.
    ConfigVersion.objects.filter(tenant=tenant).update(version="9.9.9")

    assert api.get(url).json()["version"] == "1.0.0"
    cache.clear()
    assert api.get(url).json()["version"] == "9.9.9"


def test_a_revoked_token_is_refused_and_a_used_one_records_its_last_use(tenant):
    from governance.services.tenancy import api_token_revoke

    token, raw = api_token_create(tenant=tenant, name="ci", actor=Actor.system("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert client.get(BASE).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None

    api_token_revoke(token=token, actor=Actor.system("test"))
    assert client.get(BASE).status_code == 401


def test_a_request_without_credentials_is_refused():
    assert APIClient().get(BASE).status_code in (401, 403)


def test_the_openapi_schema_and_swagger_ui_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
