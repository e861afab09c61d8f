"""Fault tests: the go-live gate and the runtime config reads against a redis-server of their
own (a free port, started here) that is made to refuse writes (``CONFIG SET maxmemory 1``
with ``noeviction``), hung (SIGSTOP) or killed, over the suite's real PostgreSQL. Changes are
really committed (transactional tests), so on-commit work runs as in production.

The gate's promise (SPEC section 4): once an engage commits, every PROD_EXEC request answers
423 within 1 s whatever Redis does, and no request waits on Redis for more than its socket
timeouts. Each request below is sent as if by a fresh web process (the per-process cache
breaker reset), the worst case: it has to find out about the fault itself."""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache, caches
from django.db import transaction

from governance import shared_cache
from governance.models import ConfigVersion, LedgerEntry, VersionState
from governance.services import levers
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload
from tests.factories.levers import GoLiveStateFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

GATED = "/api/governance/go-live/state"
PROD = {"HTTP_X_EXECUTION_CLASS": "PROD_EXEC"}
ENGAGE = "/api/governance/go-live/kill-switch/engage"
ACTIVE = "/api/governance/config/scoring/active"
SCORE = "/api/calibration/score"
VERSIONS = "/api/governance/config-versions/"
# The promise: a request sent GATE_BOUND or more after an engage's commit is refused.
GATE_BOUND = 1.0
# What no single cache call may outlive: its socket timeout (0.25 s) plus scheduling on a
# loaded machine. This is the fault bound; a client without timeouts waits forever here.
REDIS_CALL_BOUND = 0.6
# Whole requests also do database and ledger work, which on a loaded 2-core CI box can take
# seconds: these only catch a hang, the Redis part is bounded by REDIS_CALL_BOUND.
REQUEST_BOUND = 3.0
CHANGE_BOUND = 5.0


class OwnRedis:
    """A throwaway redis-server this module can break without touching the suite's."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.workdir = tempfile.mkdtemp(prefix="govloop-fault-redis-")
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.admin = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if self.admin.ping():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def refuse_writes(self) -> None:
        self.admin.config_set("maxmemory-policy", "noeviction")
        self.admin.config_set("maxmemory", 1)
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            self.admin.set("probe", "x")

    def hang(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def break_as(self, fault: str) -> None:
        {"refusing_writes": self.refuse_writes, "hung": self.hang, "killed": self.kill}[fault]()

    def time_every_call(self, backend, monkeypatch) -> None:
        """Record (operation, seconds) of every call the code under test makes to the cache."""
        self.calls: list[tuple[str, float]] = []

        def timing(operation: str, original):
            def call(*args, **kwargs):
                started = time.monotonic()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.calls.append((operation, time.monotonic() - started))

            return call

        for operation in ("get", "set", "add", "delete_many"):
            monkeypatch.setattr(backend, operation, timing(operation, getattr(backend, operation)))

    def assert_no_call_outlived_its_timeout(self) -> None:
        assert self.calls
        assert max(seconds for _, seconds in self.calls) < REDIS_CALL_BOUND, self.calls

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.admin.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def own_redis(settings, monkeypatch) -> Iterator[OwnRedis]:
    if not shutil.which("redis-server"):
        pytest.skip("needs the redis-server binary")
    server = OwnRedis()
    configured = copy.deepcopy(django_settings.CACHES)
    configured["default"]["LOCATION"] = server.url
    settings.CACHES = configured  # pytest-django restores it; Django resets the cache handlers
    assert configured["default"]["BACKEND"].endswith("RedisCache")
    assert configured["default"]["OPTIONS"]["socket_timeout"] <= 0.25
    assert configured["default"]["OPTIONS"]["socket_connect_timeout"] <= 0.25
    shared_cache.reset_breaker()
    server.time_every_call(caches["default"], monkeypatch)
    yield server
    server.close()
    shared_cache.reset_breaker()


def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


def as_a_fresh_process(client, path: str, **extra):
    """A request sent as a web process that has not met the fault yet would send it."""
    shared_cache.reset_breaker()
    return client.get(path, **extra)


@pytest.fixture
def commit_clock(monkeypatch) -> list[float]:
    """The monotonic time at which each go-live change commits: the first on-commit callback
    of its transaction (registered before the ledger's), so the promise is timed from the
    commit itself, not from whenever the engaging request happens to return."""
    commits: list[float] = []
    append = levers.ledger_append

    def ledger_append(**kwargs):
        transaction.on_commit(lambda: commits.append(time.monotonic()))
        return append(**kwargs)

    monkeypatch.setattr(levers, "ledger_append", ledger_append)
    return commits


def watch_the_gate(api, since: float, until: float) -> list[tuple[float, float, int]]:
    """PROD_EXEC requests back to back: (sent, seconds after ``since``; latency; status)."""
    seen = []
    # On a loaded machine one request may stall past ``until``: keep watching (bounded) until
    # at least one request was sent GATE_BOUND or more after the commit, so the test judges.
    deadline = until + 10
    while time.monotonic() < deadline and (
        time.monotonic() < until or not any(after >= GATE_BOUND for after, _, _ in seen)
    ):
        sent = time.monotonic()
        latency, response = timed(lambda: as_a_fresh_process(api, GATED, **PROD))
        seen.append((sent - since, latency, response.status_code))
    return seen


def assert_closed_within_the_bound(seen) -> float:
    """Every request sent GATE_BOUND or more after the commit is refused, none passes after
    the first refusal, and none waits on Redis beyond its timeouts."""
    assert any(after >= GATE_BOUND for after, _, _ in seen), seen
    assert all(status == 423 for after, _, status in seen if after >= GATE_BOUND), seen
    first_423 = next(after for after, _, status in seen if status == 423)
    assert all(status == 423 for after, _, status in seen if after >= first_423), seen
    assert max(latency for _, latency, _ in seen) < REQUEST_BOUND, seen
    return first_423


@pytest.mark.parametrize("fault", ["refusing_writes", "hung", "killed"])
def test_a_reviewer_s_engage_closes_the_gate_within_1s_whatever_redis_does(
    own_redis, commit_clock, api, reviewer_api, tenant, fault
):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    assert api.get(GATED, **PROD).status_code == 200  # the cache now says "open"
    own_redis.break_as(fault)

    latency, engaged = timed(
        lambda: reviewer_api.post(ENGAGE, {"reason": "roi collapsed"}, format="json")
    )

    assert engaged.status_code == 200, engaged.content
    assert latency < CHANGE_BOUND
    own_redis.assert_no_call_outlived_its_timeout()
    assert LedgerEntry.objects.filter(kind="go_live.kill_switch_engaged").count() == 1
    [committed] = commit_clock
    seen = watch_the_gate(api, since=committed, until=committed + GATE_BOUND + 0.5)
    first_423 = assert_closed_within_the_bound(seen)
    own_redis.assert_no_call_outlived_its_timeout()
    slowest = max(request_latency for _, request_latency, _ in seen)
    print(
        f"\n{fault}: engage answered in {latency:.3f}s; first 423 {first_423:.3f}s after"
        f" the commit; slowest gated request {slowest:.3f}s"
    )


@pytest.mark.parametrize("fault", ["refusing_writes", "hung", "killed"])
def test_a_tripwire_s_engage_closes_the_gate_within_1s_whatever_redis_does(
    own_redis, commit_clock, api, tenant, fault
):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    assert api.get(GATED, **PROD).status_code == 200
    own_redis.break_as(fault)

    levers.go_live_engage_kill_switch(
        tenant=tenant, actor=Actor.system("tripwire"), reason="roi collapsed"
    )

    [committed] = commit_clock
    seen = watch_the_gate(api, since=committed, until=committed + GATE_BOUND + 0.5)
    assert_closed_within_the_bound(seen)
    own_redis.assert_no_call_outlived_its_timeout()


def test_a_write_through_that_redis_refused_leaves_an_open_entry_the_gate_ignores(
    own_redis, api, tenant
):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    assert api.get(GATED, **PROD).status_code == 200
    own_redis.refuse_writes()

    levers.go_live_engage_kill_switch(
        tenant=tenant, actor=Actor.system("tripwire"), reason="roi collapsed"
    )

    # Redis still holds "open" (it refused the write-through, and GET still works)...
    shared_cache.reset_breaker()
    stale = cache.get(levers.go_live_cache_key(tenant.pk))
    assert stale is not None and stale["code"] == ""
    # ...and once it is older than the freshness bound nobody trusts it.
    time.sleep(max(0.0, levers.GO_LIVE_FRESHNESS - (time.time() - stale["read_at"])))
    response = as_a_fresh_process(api, GATED, **PROD)
    assert response.status_code == 423 and response.json()["code"] == "kill_switch"


@pytest.mark.parametrize("fault", ["hung", "killed"])
def test_the_gate_fails_closed_when_neither_redis_nor_the_database_answers(
    own_redis, api, tenant, fault, monkeypatch
):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    own_redis.break_as(fault)

    def unreadable(*args, **kwargs):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr("governance.services.levers.GoLiveState.objects.filter", unreadable)
    latency, response = timed(lambda: as_a_fresh_process(api, GATED, **PROD))

    assert response.status_code == 423
    assert response.json()["code"] == "go_live_state_unreadable"
    assert latency < REQUEST_BOUND
    own_redis.assert_no_call_outlived_its_timeout()


def register(tenant, version: str, **payload) -> ConfigVersion:
    return version_register(
        tenant=tenant,
        family="scoring",
        version=version,
        payload=scoring_payload(**payload),
        actor=Actor.system("test"),
        submit=True,
    )


def make_active(tenant, reviewer, version: str) -> ConfigVersion:
    approved = version_approve(version=register(tenant, version), user=reviewer, reason="ok")
    return version_activate(version=approved, user=reviewer, acknowledge_breaking=True, reason="go")


@pytest.mark.parametrize("fault", ["refusing_writes", "hung", "killed"])
def test_config_reads_answer_from_the_database_whatever_redis_does(
    own_redis, api, tenant, reviewer, fault
):
    make_active(tenant, reviewer, "1.0.0")
    assert api.get(ACTIVE).json()["version"] == "1.0.0"  # cached
    own_redis.break_as(fault)
    ConfigVersion.objects.filter(tenant=tenant).update(version="1.0.1")  # behind the cache
    time.sleep(0.01)

    read_latency, read = timed(lambda: as_a_fresh_process(api, ACTIVE))
    features = {name: 0.5 for name in scoring_payload()["weights"]}
    shared_cache.reset_breaker()
    score_latency, scored = timed(lambda: api.post(SCORE, {"features": features}, format="json"))

    assert read.status_code == 200 and read.json()["payload"] == scoring_payload()
    assert scored.status_code == 200, scored.content
    assert max(read_latency, score_latency) < REQUEST_BOUND
    own_redis.assert_no_call_outlived_its_timeout()
    if fault != "refusing_writes":
        # Nothing could be read from Redis: the answer came from the database.
        assert read.json()["version"] == "1.0.1"


@pytest.mark.parametrize("fault", ["hung", "killed"])
def test_an_activation_with_redis_down_answers_200_and_queues_the_invalidation_again(
    own_redis, reviewer_api, api, tenant, reviewer, author, fault, monkeypatch
):
    active = make_active(tenant, reviewer, "1.0.0")
    assert api.get(ACTIVE).json()["version"] == "1.0.0"  # cached
    candidate = version_approve(
        version=version_register(
            tenant=tenant,
            family="scoring",
            version="1.1.0",
            payload=scoring_payload(),
            actor=Actor.for_user(author),
            base_version=active,
            submit=True,
        ),
        user=reviewer,
        reason="ok",
    )
    from governance.tasks import cache_invalidate

    queued = []
    monkeypatch.setattr(
        cache_invalidate, "apply_async", lambda *args, **kwargs: queued.append((args, kwargs))
    )
    own_redis.break_as(fault)

    latency, activated = timed(
        lambda: reviewer_api.post(
            f"{VERSIONS}{candidate.pk}/activate/", {"reason": "ship"}, format="json"
        )
    )

    assert activated.status_code == 200, activated.content
    assert latency < CHANGE_BOUND
    own_redis.assert_no_call_outlived_its_timeout()
    candidate.refresh_from_db()
    assert candidate.state == VersionState.ACTIVE
    # The delete failed after the commit: a task retries it (the broker here is the suite's).
    assert [args for args, _ in queued] == [(([f"active-config:{tenant.pk}:scoring"],),)]
    assert as_a_fresh_process(api, ACTIVE).json()["version"] == "1.1.0"
