"""The go-live gate on PROD_EXEC requests."""

import pytest
from django.core.cache import cache

from governance.middleware import GoLiveMiddleware
from governance.services import levers
from governance.services.ledger import Actor
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


def test_the_check_is_served_from_the_cache(api, tenant, django_assert_max_num_queries):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    api.get(URL, **PROD)
    middleware = GoLiveMiddleware(lambda request: "passed")
    from django.test import RequestFactory

    request = RequestFactory().get(
        URL, HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"], **PROD
    )

    with django_assert_max_num_queries(0):
        assert middleware(request) == "passed"


def test_it_fails_closed_when_the_state_cannot_be_read(api, tenant, monkeypatch):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    cache.clear()

    def unreadable(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("governance.middleware.go_live_block_reason", unreadable)
    response = api.get(URL, **PROD)

    assert response.status_code == 423
    assert response.json()["code"] == "go_live_state_unreadable"
