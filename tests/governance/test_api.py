import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.models import ConfigFamily, ConfigVersion, LedgerEntry, VersionState
from governance.selectors import active_version
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import (
    version_activate,
    version_approve,
    version_register,
    version_rollback,
)
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db

BASE = "/api/governance/config-versions/"


def register(tenant, author, version="1.0.0", submit=True, **payload):
    """A version based on the family's active version (if any), as a proposal would be."""
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(**payload),
        base_version=active_version(tenant_id=tenant.pk, family="scoring"),
        actor=Actor.for_user(author),
        submit=submit,
    )


def make_active(tenant, author, reviewer, version="1.0.0", **payload):
    v = register(tenant, author, version, **payload)
    v = version_approve(version=v, user=reviewer, reason="ok")
    return version_activate(version=v, user=reviewer, acknowledge_breaking=True, reason="go")


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

    response = reviewer_api.post(f"{BASE}{version.pk}/activate/", {"reason": "go"}, format="json")

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
    activated = reviewer_api.post(
        f"{BASE}{version.pk}/activate/", {"reason": "ship it"}, format="json"
    )

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
            base_version=active_version(tenant_id=tenant.pk, family="scoring"),
            actor=Actor.for_user(author),
            submit=True,
        ),
        user=reviewer,
        reason="ok",
    )

    refused = reviewer_api.post(f"{BASE}{breaking.pk}/activate/", {"reason": "go"}, format="json")
    accepted = reviewer_api.post(
        f"{BASE}{breaking.pk}/activate/",
        {"acknowledge_breaking": True, "reason": "go"},
        format="json",
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


# Issue 13: decisions that cannot be bypassed (the config version side)


def personal_client(tenant, user):
    _, raw = api_token_create(
        tenant=tenant, name=f"{user.username}-token", actor=Actor.system("test"), user=user
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_reviewer_who_edited_a_machine_proposal_cannot_approve_it_with_a_personal_token(
    api, tenant, reviewer
):
    """Finding 1: the machine registers and submits 9.1.0; reviewer R puts R's own thresholds
    in, submits and approves with R's personal token. R contributed: 403."""
    created = api.post(
        BASE,
        {"family": "scoring", "version": "9.1.0", "payload": scoring_payload(), "submit": True},
        format="json",
    ).json()
    rita = personal_client(tenant, reviewer)
    url = f"{BASE}{created['id']}/"

    edited = rita.post(
        f"{url}edit-payload/",
        {"payload": scoring_payload(thresholds=[0.2, 0.9])},
        format="json",
    )
    submitted = rita.post(f"{url}submit/")
    approved = rita.post(f"{url}approve/", {"reason": "my own numbers"}, format="json")

    assert (edited.status_code, submitted.status_code) == (200, 200)
    assert approved.status_code == 403
    assert "four eyes" in approved.json()["detail"]
    version = ConfigVersion.objects.get(pk=created["id"])
    assert version.state == VersionState.PENDING_APPROVAL
    assert version.contributors == ["token:machine", "user:rita"]
    assert not version.approvals.exists()


def test_activation_without_a_reason_is_a_400_and_the_ledger_carries_the_reason(
    reviewer_api, tenant, author, reviewer
):
    """Finding 7: ``{}`` was accepted with an empty reason."""
    version = version_approve(version=register(tenant, author), user=reviewer, reason="ok")

    refused = reviewer_api.post(f"{BASE}{version.pk}/activate/", {}, format="json")
    blank = reviewer_api.post(f"{BASE}{version.pk}/activate/", {"reason": "  "}, format="json")
    accepted = reviewer_api.post(
        f"{BASE}{version.pk}/activate/", {"reason": "numbers checked"}, format="json"
    )

    assert refused.status_code == 400 and "reason" in refused.json()
    assert blank.status_code == 400 and "reason" in blank.json()
    assert accepted.status_code == 200
    entry = LedgerEntry.objects.filter(tenant=tenant, kind="version.activated").get()
    assert entry.payload["reason"] == "numbers checked"


def test_history_payloads_are_json_objects_and_the_schema_says_so(api, tenant, author):
    """Finding 9: each payload came back as a Python repr string."""
    version = register(tenant, author)

    history = api.get(f"{BASE}{version.pk}/history/").json()
    schema = api.get("/api/schema/", {"format": "json"}).json()

    assert [type(e["payload"]) for e in history] == [dict, dict]
    assert history[1]["payload"]["version"] == "1.0.0"
    payload_schema = schema["components"]["schemas"]["LedgerEntry"]["properties"]["payload"]
    assert payload_schema["type"] == "object"


def test_activating_a_stale_proposal_is_a_409_stale_base_with_a_three_way_diff(
    reviewer_api, tenant, author, reviewer
):
    """Finding 3 through the API: v1.1.0 was drafted on v1.0.0, v1.2.0 is active."""
    v1 = make_active(tenant, author, reviewer)
    stale = register(tenant, author, "1.1.0", thresholds=[0.42, 0.7])
    make_active(tenant, author, reviewer, "1.2.0", thresholds=[0.44, 0.7], confidence_margin=0.05)
    stale = version_approve(version=stale, user=reviewer, reason="ok")
    assert stale.base_version == v1

    response = reviewer_api.post(f"{BASE}{stale.pk}/activate/", {"reason": "go"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "stale_base"
    assert body["current_state"] == VersionState.APPROVED
    assert (body["diff"]["base"], body["diff"]["active"]) == ("1.0.0", "1.2.0")
    assert {c["path"] for c in body["diff"]["base_to_active"]} == {
        "thresholds[0]",
        "confidence_margin",
    }
    assert [c["path"] for c in body["diff"]["base_to_proposal"]] == ["thresholds[0]"]
    assert body["diff"]["both_touched"] == ["thresholds[0]"]
    assert active_version(tenant_id=tenant.pk, family="scoring").version == "1.2.0"


def test_a_reviewer_rebases_a_stale_proposal_into_a_new_draft_through_the_api(
    api_as, reviewer_api, tenant, author, reviewer, second_reviewer
):
    make_active(tenant, author, reviewer)
    stale = register(tenant, author, "1.1.0", thresholds=[0.42, 0.7])
    make_active(tenant, author, reviewer, "1.2.0", confidence_margin=0.05)

    missing = reviewer_api.post(f"{BASE}{stale.pk}/rebase/", {}, format="json")
    response = reviewer_api.post(f"{BASE}{stale.pk}/rebase/", {"reason": "carry on"}, format="json")

    assert missing.status_code == 400 and "reason" in missing.json()
    assert response.status_code == 201, response.json()
    rebased = response.json()
    assert (rebased["version"], rebased["state"], rebased["base_version"]) == (
        "1.3.0",
        VersionState.DRAFT,
        "1.2.0",
    )
    assert rebased["payload"]["thresholds"] == [0.42, 0.7]
    assert rebased["payload"]["confidence_margin"] == 0.05
    sam = api_as(second_reviewer)
    assert sam.post(f"{BASE}{rebased['id']}/submit/").status_code == 200
    own = reviewer_api.post(f"{BASE}{rebased['id']}/approve/", {"reason": "ok"}, format="json")
    assert own.status_code == 403


def test_rollback_reports_are_readable_per_tenant_and_on_the_version(
    reviewer_api, api, tenant, author, reviewer, other_tenant, make_reviewer
):
    v1 = make_active(tenant, author, reviewer)
    v2 = make_active(tenant, author, reviewer, "1.1.0", bias=0.1)
    v1.refresh_from_db()
    version_rollback(version=v1, user=reviewer, reason="approval rate fell")
    olga = make_reviewer("olga", for_tenant=other_tenant)
    otto = make_reviewer("otto", for_tenant=other_tenant)
    theirs = make_active(other_tenant, olga, otto)
    make_active(other_tenant, olga, otto, "1.1.0")
    theirs.refresh_from_db()
    version_rollback(version=theirs, user=otto, reason="theirs")

    listed = api.get("/api/governance/rollback-reports/").json()["results"]
    on_version = reviewer_api.get(f"{BASE}{v1.pk}/rollback-reports/").json()
    on_v2 = reviewer_api.get(f"{BASE}{v2.pk}/rollback-reports/").json()

    assert len(listed) == 1
    report = listed[0]
    assert (report["rolled_back_from"], report["rolled_back_to"]) == ("1.1.0", "1.0.0")
    assert (report["actor"], report["reason"], report["automatic"]) == (
        "user:rita",
        "approval rate fell",
        False,
    )
    assert report["diff"]["changes"] == [{"path": "bias", "op": "changed", "old": 0.1, "new": 0.0}]
    assert api.get(f"/api/governance/rollback-reports/{report['id']}/").status_code == 200
    assert [r["id"] for r in on_version] == [r["id"] for r in on_v2] == [report["id"]]
