"""The Python client (clients/python, govloop_client) against the real server: pytest-django's
live server, or the benchmark harness's WSGI server where a test stops and restarts it."""

from __future__ import annotations

import socket
import time
from decimal import Decimal

import httpx
import pytest

from calibration.models import Decision
from governance.benchmarking import serve_wsgi
from governance.models import ConfigVersion, RiskReservation, VersionState
from governance.services import levers
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from govloop_client import (
    ApiError,
    Client,
    ConfigUnavailable,
    NoActiveConfig,
    ProdExecBlocked,
    RiskDenied,
    Scorer,
)
from learning.models import LearningEvent
from tests.factories import scoring_payload
from tests.factories.levers import GoLiveStateFactory, RiskPolicyFactory
from tripwire.models import KPIEvent

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = {"risk_signal": 0.42, "velocity": 0.3}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording(httpx.BaseTransport):
    """Sends through a real transport and records (method, path, status); ``down`` makes it
    fail to connect, as a stopped server does; ``lose_answers`` drops that many successful
    answers after the server committed (a read timeout after the commit)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[tuple[str, str, int]] = []
        self.down = False
        self.lose_answers = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        response = self.inner.handle_request(request)
        response.read()
        self.calls.append((request.method, request.url.path, response.status_code))
        if self.lose_answers and request.method == "POST" and response.status_code < 300:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def statuses(self, path_part: str) -> list[int]:
        return [status for _, path, status in self.calls if path_part in path]


def active_scoring(tenant):
    """Each new version is based on the active one (a stale base does not activate)."""
    return ConfigVersion.objects.filter(
        tenant=tenant, family__name="scoring", state=VersionState.ACTIVE
    ).first()


@pytest.fixture
def activate(tenant, author, reviewer):
    def make(version: str, **payload):
        v = version_register(
            tenant=tenant,
            family="scoring",
            version=version,
            payload=scoring_payload(**payload),
            actor=Actor.for_user(author),
            base_version=active_scoring(tenant),
            submit=True,
        )
        v = version_approve(version=v, user=reviewer, reason="ok")
        return version_activate(version=v, user=reviewer, acknowledge_breaking=True, reason="ship")

    return make


@pytest.fixture
def transport():
    return Recording()


@pytest.fixture
def make_client(live_server, machine_token, transport):
    clients = []

    def make(**kwargs) -> Client:
        kwargs.setdefault("transport", transport)
        kwargs.setdefault("background", False)
        kwargs.setdefault("sleep", lambda seconds: None)
        client = Client(kwargs.pop("base_url", live_server.url), machine_token, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client._http.close()


def test_local_scores_equal_the_servers_and_name_the_version(make_client, activate, api):
    activate("1.0.0")
    client = make_client()

    local = client.score(FEATURES)
    remote = api.post("/api/calibration/score", {"features": FEATURES}, format="json").json()

    assert local.as_dict() == remote
    assert local.config_version == "1.0.0"


def test_a_config_change_is_seen_within_the_revalidation_interval(make_client, activate, transport):
    activate("1.0.0")
    clock = Clock()
    client = make_client(revalidate_after=5.0, clock=clock)
    assert client.config().version == "1.0.0"
    clock.now += 5.0
    assert client.config().version == "1.0.0"  # revalidated: 304, the copy is current

    activate("1.1.0", thresholds=[0.45, 0.7])
    clock.now += 4.9
    before = client.config().version  # within the interval: the cached copy, no request
    clock.now += 0.1
    after = client.config().version

    assert (before, after) == ("1.0.0", "1.1.0")
    assert transport.statuses("/config/scoring/active") == [200, 304, 200]


def test_a_config_change_reaches_a_client_on_the_wall_clock_within_its_interval(
    make_client, activate
):
    activate("1.0.0")
    client = make_client(revalidate_after=0.3)
    assert client.config().version == "1.0.0"

    activate("1.1.0", thresholds=[0.45, 0.7])
    activated = time.monotonic()
    while client.config().version != "1.1.0":
        assert time.monotonic() - activated < 0.3 + 2.0, "the change never reached the client"
        time.sleep(0.02)

    # The interval, plus one request's time on a busy test machine.
    assert time.monotonic() - activated < 0.3 + 1.0


def test_a_stale_copy_is_served_for_max_stale_then_the_client_fails_closed(
    make_client, activate, transport
):
    activate("1.0.0")
    clock = Clock()
    client = make_client(revalidate_after=5.0, max_stale=60.0, clock=clock)
    client.config()

    transport.down = True
    clock.now += 59.0
    stale = client.score(FEATURES)
    clock.now += 1.0

    assert stale.config_version == "1.0.0"
    with pytest.raises(ConfigUnavailable):
        client.score(FEATURES)
    transport.down = False
    assert client.config().version == "1.0.0"  # back as soon as the server answers


def test_no_active_version_is_an_error_not_an_empty_config(make_client):
    with pytest.raises(NoActiveConfig):
        make_client().score(FEATURES)


def test_a_hung_server_is_given_up_after_the_read_timeout():
    with socket.socket() as listener:
        # Listening but never answering: connections complete in the backlog, no reply.
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        client = Client(f"http://127.0.0.1:{port}", "glp_x", connect_timeout=0.5, read_timeout=0.3)
        start = time.monotonic()
        with pytest.raises(ConfigUnavailable):
            client.config()
        with pytest.raises(ProdExecBlocked) as blocked:
            client.require_prod_exec()
        client._http.close()

    assert time.monotonic() - start < 3.0
    assert blocked.value.code == "unreadable"


def test_a_100_000_evaluation_scoring_loop_makes_one_config_request(
    make_client, activate, transport
):
    activate("1.0.0")
    client = make_client(clock=Clock())
    rows = [{"risk_signal": (i % 997) / 997, "velocity": (i % 89) / 89} for i in range(1000)]

    decisions = [client.score(rows[i % 1000]).decision for i in range(100_000)]

    scorer = Scorer(scoring_payload())
    assert decisions[:1000] == [scorer(row).decision for row in rows]
    assert len(decisions) == 100_000
    assert len(transport.calls) == 1


def _record_some(client: Client) -> None:
    for i in range(3):
        client.record_decision(client.score(FEATURES), client_id=f"d-{i}")
    for i in range(5):
        client.record_kpi("checkout", "approval_rate", success=i % 2 == 0, event_id=f"k-{i}")
    for i in range(2):
        client.record_learning_event("signal_generated", "scorer", event_id=f"l-{i}")


def test_buffered_items_wait_out_a_server_restart_and_are_stored_once(
    machine_token, activate, tenant
):
    activate("1.0.0")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with serve_wsgi(port=port):
        client = Client(url, machine_token, background=False, sleep=lambda s: None)
        _record_some(client)

    # The server is stopped: nothing is acknowledged, so nothing leaves the buffer.
    with pytest.raises(Exception, match="could not send"):
        client.flush()
    assert client.pending() == {"decisions": 3, "kpi": 5, "learning": 2, "settlements": 0}

    with serve_wsgi(port=port), client:
        client.flush()
        client.flush()

    assert client.pending() == {"decisions": 0, "kpi": 0, "learning": 0, "settlements": 0}
    assert Decision.objects.filter(tenant=tenant).count() == 3
    assert KPIEvent.objects.filter(tenant=tenant, domain="checkout").count() == 5
    assert LearningEvent.objects.filter(tenant=tenant).count() == 2


def test_a_batch_whose_answer_was_lost_is_sent_again_and_stored_once(
    make_client, activate, transport, tenant
):
    activate("1.0.0")
    client = make_client()
    _record_some(client)
    transport.lose_answers = 3  # each queue's first delivery commits, then its answer is lost

    client.flush()

    assert client.pending() == {"decisions": 0, "kpi": 0, "learning": 0, "settlements": 0}
    assert Decision.objects.filter(tenant=tenant).count() == 3
    assert KPIEvent.objects.filter(tenant=tenant, domain="checkout").count() == 5
    assert LearningEvent.objects.filter(tenant=tenant).count() == 2
    assert client.rejected == []
    # The decisions' second delivery was refused as already stored: that is the acknowledgement.
    assert transport.statuses("/calibration/decisions") == [201, 400]


def test_an_invalid_item_is_set_aside_and_the_rest_of_its_batch_is_stored(make_client, tenant):
    client = make_client()
    for i in range(4):
        client.record_kpi("checkout", "approval_rate", success=True, event_id=f"ok-{i}")
    client.record_kpi("x" * 65, "approval_rate", success=True, event_id="too-long")

    client.flush()

    assert KPIEvent.objects.filter(tenant=tenant).count() == 4
    assert [(queue, item["event_id"]) for queue, item, _ in client.rejected] == [
        ("kpi", "too-long")
    ]


def test_the_background_sender_delivers_without_a_flush(make_client, tenant):
    client = make_client(background=True, flush_interval=0.05)
    client.record_kpi("checkout", "approval_rate", success=True)

    deadline = time.monotonic() + 5
    while client.pending()["kpi"] and time.monotonic() < deadline:
        time.sleep(0.02)
    client.close()

    assert KPIEvent.objects.filter(tenant=tenant).count() == 1


@pytest.fixture
def wholesale(tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    return RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", max_daily_exposure=Decimal(100))


def test_reserve_settles_on_exit_with_the_loss_the_block_recorded(make_client, wholesale):
    client = make_client()

    with client.reserve("WHOLESALE", 60) as r:
        r.realised_loss = Decimal("2.50")
    # The exposure was released on exit, so the same amount fits again.
    with pytest.raises(RuntimeError), client.reserve("WHOLESALE", 60) as second:
        raise RuntimeError("the action failed")

    first = RiskReservation.objects.get(pk=r.id)
    assert (first.outcome, first.realised_loss) == ("SETTLED", Decimal("2.50"))
    assert RiskReservation.objects.get(pk=second.id).outcome == "SETTLED"


def test_a_reservation_beyond_the_cap_raises_with_the_reason(make_client, wholesale):
    client = make_client()

    with pytest.raises(RiskDenied) as denied, client.reserve("WHOLESALE", 150):
        pytest.fail("the block must not run")

    assert denied.value.reason
    assert RiskReservation.objects.get(pk=denied.value.reservation_id).outcome == "DENIED"


def test_the_two_plain_calls_reserve_and_settle(make_client, wholesale):
    client = make_client()

    reservation = client.reserve_or_raise("WHOLESALE", 40)
    settled_now = client.settle(reservation.id, realised_loss=1)
    # Settling again (a retry whose first answer was lost) is acknowledged, not an error.
    again = client.settle(reservation.id, realised_loss=1)

    assert settled_now and again
    assert RiskReservation.objects.get(pk=reservation.id).outcome == "SETTLED"


def test_require_prod_exec_raises_while_the_gate_is_closed(make_client, tenant, reviewer):
    client = make_client()
    with pytest.raises(ProdExecBlocked) as disabled:
        client.require_prod_exec()

    levers.go_live_enable(tenant=tenant, actor=Actor.for_user(reviewer), reason="launch")
    client.require_prod_exec()
    levers.go_live_engage_kill_switch(tenant=tenant, actor=Actor.for_user(reviewer), reason="x")
    with pytest.raises(ProdExecBlocked) as killed:
        client.require_prod_exec()

    assert disabled.value.code == "go_live_disabled"
    assert killed.value.code == "kill_switch"


def test_a_settlement_that_cannot_be_sent_waits_for_the_next_flush(
    make_client, wholesale, transport
):
    client = make_client()
    with client.reserve("WHOLESALE", 30) as r:
        r.realised_loss = Decimal(4)
        transport.down = True

    deferred = RiskReservation.objects.get(pk=r.id).outcome
    transport.down = False
    client.flush()

    assert deferred == "RESERVED"
    assert client.pending()["settlements"] == 0
    settled = RiskReservation.objects.get(pk=r.id)
    assert (settled.outcome, settled.realised_loss) == ("SETTLED", Decimal(4))


def test_settling_an_unknown_or_denied_reservation_is_an_error(make_client, wholesale):
    client = make_client()
    with pytest.raises(RiskDenied) as denied:
        client.reserve_or_raise("WHOLESALE", 500)

    with pytest.raises(ApiError) as unknown:
        client.settle(10**9)
    with pytest.raises(ApiError) as not_reserved:
        client.settle(denied.value.reservation_id)

    assert (unknown.value.status_code, not_reserved.value.status_code) == (404, 409)
