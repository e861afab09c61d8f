"""Seed 003's six-step test plan, scripted against a real server (Django's live server over
HTTP, through every middleware), with the seed's paths and bodies (form-encoded evaluate, JSON
elsewhere) plus a bearer token."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from governance.models import Tenant
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class Http:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def __call__(self, method, path, *, json_body=None, form=None, headers=None):
        data, extra = None, {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            extra["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            extra["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=extra)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def default_tenant():
    return Tenant.objects.get(slug="default")


@pytest.fixture
def machine(live_server, default_tenant):
    _, raw = api_token_create(tenant=default_tenant, name="seed", actor=Actor.system("test"))
    return Http(live_server.url, raw)


@pytest.fixture
def human(live_server, default_tenant, make_reviewer):
    """A reviewer's personal token: human acts (enable go-live) over the API."""
    user = make_reviewer("rhea", for_tenant=default_tenant)
    _, raw = api_token_create(
        tenant=default_tenant, name="rhea", user=user, actor=Actor.system("test")
    )
    return Http(live_server.url, raw)


@pytest.fixture
def second_human(live_server, default_tenant, make_reviewer):
    """Another reviewer: enabling a risk policy loosens it, so it needs a second person."""
    user = make_reviewer("remy", for_tenant=default_tenant)
    _, raw = api_token_create(
        tenant=default_tenant, name="remy", user=user, actor=Actor.system("test")
    )
    return Http(live_server.url, raw)


def _enable_risk_policy(human, second_human, body):
    status, change = human(
        "POST", "/api/governance/risk/policies", json_body={**body, "reason": "launch"}
    )
    assert status == 202, change
    status, decided = second_human(
        "POST",
        f"/api/governance/settings-changes/{change['id']}/approve/",
        json_body={"reason": "agreed"},
    )
    assert status == 200 and decided["state"] == "APPLIED", decided


def _record(machine, domain, metric, outcomes):
    for outcome in outcomes:
        status, body = machine(
            "POST",
            "/api/governance/regression/kpi",
            json_body={"domain": domain, "metric": metric, **outcome, "actor": "test_user"},
        )
        assert status == 201, body


def test_seed_steps_one_to_six_throttle_wholesale(machine, human, second_human):
    # Steps 1-2: the migration seeded the four default policies, all disabled.
    status, policies = machine("GET", "/api/governance/regression/policies")
    assert status == 200
    assert {(p["domain"], p["metric"], p["enabled"]) for p in policies} == {
        ("WHOLESALE", "contract_rate", False),
        ("WHOLESALE", "offer_accept_rate", False),
        ("BUYER_MATCH", "match_success", False),
        ("CAPITAL", "roi_event", False),
    }
    status, states = machine("GET", "/api/governance/regression/state")
    assert status == 200 and all(not s["triggered"] for s in states)

    # A governed engine with an enabled risk policy (two reviewers: enabling loosens it), and
    # go-live enabled by a reviewer.
    _enable_risk_policy(
        human, second_human, {"engine": "WHOLESALE", "enabled": True, "max_daily_exposure": "1e5"}
    )
    status, _ = human("POST", "/api/governance/go-live/enable", json_body={"reason": "launch"})
    assert status == 200

    # Step 3: 200 baseline events at 95% success, then 50 recent ones at 74%.
    _record(machine, "WHOLESALE", "contract_rate", [{"success": True}] * 190)
    _record(machine, "WHOLESALE", "contract_rate", [{"success": False}] * 10)
    _record(machine, "WHOLESALE", "contract_rate", [{"success": True}] * 37)
    _record(machine, "WHOLESALE", "contract_rate", [{"success": False}] * 13)

    # Step 4: enable the policy (JSON) and evaluate (form-encoded, as the seed's curl).
    # Enabling a tripwire tightens it, so the machine's request applies at once; the seed's
    # changed_by is accepted and ignored (the policy names the token).
    status, policy = machine(
        "POST",
        "/api/governance/regression/policies/upsert",
        json_body={
            "domain": "WHOLESALE",
            "metric": "contract_rate",
            "enabled": True,
            "changed_by": "test_user",
        },
    )
    assert status == 200 and policy["enabled"] is True
    assert policy["changed_by"].startswith("token:")
    status, state = machine(
        "POST",
        "/api/governance/regression/evaluate",
        form={"domain": "WHOLESALE", "metric": "contract_rate", "actor": "test_user"},
    )
    assert status == 200, state
    assert state["status"] == "triggered" and state["triggered"] is True
    assert state["baseline"] == pytest.approx(0.95)
    assert 0.20 < state["drop"] < 0.23
    assert state["action_taken"].startswith("THROTTLE")

    # Step 5: the WHOLESALE risk policy was disabled by the tripwire.
    status, risk = machine("GET", "/api/governance/risk/policies")
    wholesale = next(p for p in risk if p["engine"] == "WHOLESALE")
    assert wholesale["enabled"] is False

    # Step 6: with go-live enabled, a WHOLESALE reservation is refused as policy_disabled.
    status, check = machine(
        "POST", "/api/governance/risk/reserve", json_body={"engine": "WHOLESALE", "exposure": "10"}
    )
    assert status == 200
    assert check["ok"] is False and check["reason"] == "policy_disabled"
    status, ledger = machine("GET", "/api/governance/risk/ledger/today")
    assert ledger["denials_by_reason"] == {"policy_disabled": 1}
    assert ledger["denied_ids"]["policy_disabled"] == [check["reservation_id"]]

    # The Monday review: go-live state, regression state, checkpoint queue.
    status, go_live = machine("GET", "/api/governance/go-live/state")
    assert go_live["enabled"] is True and go_live["kill_switch_engaged"] is False
    status, states = machine("GET", "/api/governance/regression/state")
    assert [s["metric"] for s in states if s["triggered"]] == ["contract_rate"]
    status, scorecard = machine("GET", "/api/governance/heimdall/scorecard/today")
    assert status == 200 and "domains" in scorecard


def test_seed_kill_switch_variant_blocks_prod_exec_and_reservations(machine, human, second_human):
    human("POST", "/api/governance/go-live/enable", json_body={"reason": "launch"})
    _enable_risk_policy(human, second_human, {"engine": "CAPITAL", "enabled": True})
    status, _ = machine(
        "GET", "/api/governance/go-live/state", headers={"X-Execution-Class": "PROD_EXEC"}
    )
    assert status == 200
    status, batch = machine(
        "POST",
        "/api/governance/regression/kpi/batch",
        json_body={
            "events": [
                {"domain": "CAPITAL", "metric": "roi_event", "value": v}
                for v in [0.10] * 200 + [0.05] * 50
            ]
        },
    )
    assert (status, batch["stored"]) == (201, 250)
    machine(
        "POST",
        "/api/governance/regression/policies/upsert",
        json_body={"domain": "CAPITAL", "metric": "roi_event", "enabled": True},
    )

    status, state = machine(
        "POST",
        "/api/governance/regression/evaluate",
        form={"domain": "CAPITAL", "metric": "roi_event", "actor": "test_user"},
    )

    assert state["triggered"] is True and state["action_taken"] == "KILL_SWITCH: engaged"
    status, body = machine(
        "POST",
        "/api/governance/risk/reserve",
        json_body={"engine": "CAPITAL", "exposure": "5"},
        headers={"X-Execution-Class": "PROD_EXEC"},
    )
    assert status == 423 and body["code"] == "kill_switch"
    assert "CAPITAL.roi_event" in body["reason"]
    status, check = machine(
        "POST", "/api/governance/risk/reserve", json_body={"engine": "CAPITAL", "exposure": "5"}
    )
    assert (check["ok"], check["reason"]) == (False, "kill_switch")

    # Only a human releases it; then PROD_EXEC runs again.
    status, _ = machine(
        "POST", "/api/governance/go-live/kill-switch/release", json_body={"reason": "fixed"}
    )
    assert status == 403
    status, _ = human(
        "POST", "/api/governance/go-live/kill-switch/release", json_body={"reason": "fixed"}
    )
    assert status == 200
    status, check = machine(
        "POST",
        "/api/governance/risk/reserve",
        json_body={"engine": "CAPITAL", "exposure": "5"},
        headers={"X-Execution-Class": "PROD_EXEC"},
    )
    assert status == 200 and check["ok"] is True
