"""The go-live gate on PROD_EXEC requests."""

import http.client
import time
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from governance.middleware import GoLiveMiddleware
from governance.services import levers
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from tests.factories.levers import GoLiveStateFactory

pytestmark = pytest.mark.django_db

PROD = {"HTTP_X_EXECUTION_CLASS": "PROD_EXEC"}
URL = "/api/governance/go-live/state"


@pytest.mark.parametrize(
    ("enabled", "kill", "status", "code"),
    [
        pytest.param(True, False, 200, None, id="enabled-passes"),
        pytest.param(False, False, 423, "go_live_disabled", id="disabled-blocks"),
        pytest.param(True, True, 423, "kill_switch", id="kill-switch-blocks"),
    ],
)
def test_prod_exec_requests_are_gated_by_go_live(api, tenant, enabled, kill, status, code):
    GoLiveStateFactory(tenant=tenant, enabled=enabled, kill_switch_engaged=kill, reason="why")

    response = api.get(URL, **PROD)

    assert response.status_code == status
    if code:
        assert response.json() == {
            "detail": response.json()["detail"],
            "code": code,
            "reason": "why",
        }


def test_requests_without_the_header_are_not_gated(api, tenant):
    GoLiveStateFactory(tenant=tenant, enabled=False, kill_switch_engaged=True)

    assert api.get(URL).status_code == 200
    assert api.get(URL, HTTP_X_EXECUTION_CLASS="SANDBOX").status_code == 200


def test_a_tenant_without_state_is_blocked(api):
    response = api.get(URL, **PROD)

    assert response.status_code == 423 and response.json()["code"] == "go_live_disabled"


def test_a_session_user_is_gated_by_the_tenant_they_name(reviewer_api, tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)

    assert reviewer_api.get(URL, **PROD).status_code == 423


def test_the_gate_follows_a_change_as_soon_as_it_commits(
    api, tenant, django_capture_on_commit_callbacks
):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    assert api.get(URL, **PROD).status_code == 200  # now cached as open

    with django_capture_on_commit_callbacks(execute=True):
        levers.go_live_engage_kill_switch(
            tenant=tenant, actor=Actor.system("tripwire"), reason="roi collapsed"
        )

    response = api.get(URL, **PROD)
    assert response.status_code == 423 and response.json()["reason"] == "roi collapsed"


def test_the_gate_adds_no_query_when_the_state_is_cached(api, tenant, monkeypatch):
    # Counting queries, not timing them: a slow CI box must not age the cached state out.
    monkeypatch.setattr(levers, "GO_LIVE_FRESHNESS", 60.0)
    GoLiveStateFactory(tenant=tenant, enabled=True)
    api.get(URL, **PROD)  # warm: token's last_used_at, cached state

    with CaptureQueriesContext(connection) as plain:
        assert api.get(URL).status_code == 200
    with CaptureQueriesContext(connection) as gated:
        assert api.get(URL, **PROD).status_code == 200

    # The view reuses the gate's token lookup: the gated request costs what the plain one does.
    assert len(gated) == len(plain)


def test_a_cached_state_older_than_the_freshness_bound_is_not_trusted(api, tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True, reason="why")
    # An "open" entry that a failed write-through left behind, read before the engage.
    cache.set(
        levers.go_live_cache_key(tenant.pk),
        {"code": "", "reason": "", "read_at": time.time() - levers.GO_LIVE_FRESHNESS},
        60,
    )

    response = api.get(URL, **PROD)

    assert response.status_code == 423 and response.json()["code"] == "kill_switch"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("PROD_EXEC", id="plain"),
        pytest.param("prod_exec", id="lower-case"),
        pytest.param(" PROD_EXEC ", id="padded"),
        pytest.param("SANDBOX,PROD_EXEC", id="repeated-header-joined-by-the-server"),
        pytest.param("PROD_EXEC, X", id="listed-first"),
        pytest.param("PROD_EXEC,PROD_EXEC", id="repeated-twice"),
    ],
)
def test_every_execution_class_that_names_prod_exec_is_gated(api, tenant, value):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)

    assert api.get(URL, HTTP_X_EXECUTION_CLASS=value).status_code == 423


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer\t{token}", id="tab"),
        pytest.param("bearer {token}", id="lower-case-scheme"),
        pytest.param("BEARER   {token}", id="several-spaces"),
        pytest.param("Bearer {token} ", id="trailing-space"),
    ],
)
def test_every_authorization_header_drf_accepts_is_gated(machine_token, tenant, header):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(token=machine_token))
    assert client.get(URL).status_code == 200  # DRF authenticates it

    assert client.get(URL, **PROD).status_code == 423


def test_a_header_drf_refuses_is_refused_by_the_view(machine_token, tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {machine_token} extra")

    assert client.get(URL, **PROD).status_code == 401


def test_a_refused_token_beside_a_session_is_gated_by_the_session_tenant(reviewer_api, tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)
    reviewer_api.credentials(HTTP_X_TENANT=tenant.slug, HTTP_AUTHORIZATION="Bearer not-a-token")

    assert reviewer_api.get("/admin/", **PROD).status_code == 423


def test_a_token_beside_a_session_is_gated_by_both_tenants(reviewer_api, tenant, other_tenant):
    GoLiveStateFactory(tenant=other_tenant, enabled=True)
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)
    _, other_token = api_token_create(tenant=other_tenant, name="m", actor=Actor.system("t"))
    reviewer_api.credentials(HTTP_X_TENANT=tenant.slug, HTTP_AUTHORIZATION=f"Bearer {other_token}")

    # The API would act for the token's (open) tenant, an admin page for the session's.
    assert reviewer_api.get(URL, **PROD).status_code == 423


def test_the_gate_leaves_django_s_user_on_the_request(reviewer, tenant, machine_token):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    seen = {}

    def view(request):
        seen["user"] = request.user
        return "passed"

    request = RequestFactory().get(URL, HTTP_AUTHORIZATION=f"Bearer {machine_token}", **PROD)
    request.user = reviewer

    assert GoLiveMiddleware(view)(request) == "passed"
    assert seen["user"] == reviewer


def test_it_fails_closed_when_the_state_cannot_be_read(api, tenant, monkeypatch):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    cache.clear()

    def unreadable(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("governance.middleware.go_live_block_reason", unreadable)
    response = api.get(URL, **PROD)

    assert response.status_code == 423
    assert response.json()["code"] == "go_live_state_unreadable"


@pytest.mark.django_db(transaction=True)
def test_over_real_http_a_second_header_and_a_tab_after_bearer_are_gated(
    live_server, tenant, machine_token
):
    GoLiveStateFactory(tenant=tenant, enabled=True, kill_switch_engaged=True)
    address = urlsplit(live_server.url)

    def get(*execution_classes: str) -> int:
        conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            conn.putrequest("GET", URL)
            conn.putheader("Authorization", f"Bearer\t{machine_token}")
            for value in execution_classes:
                conn.putheader("X-Execution-Class", value)
            conn.endheaders()
            return conn.getresponse().status
        finally:
            conn.close()

    assert get("SANDBOX") == 200  # the server and DRF accept the tab
    assert get("SANDBOX", "PROD_EXEC") == 423
    assert get("PROD_EXEC", "SANDBOX") == 423
