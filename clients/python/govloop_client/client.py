"""The govloop client for governed systems.

- ``config(family)``: the ACTIVE config, cached in process and revalidated with
  ``If-None-Match`` every ``revalidate_after`` seconds; while the server cannot be reached the
  cached copy is served until ``max_stale`` seconds after its last successful revalidation,
  then ``ConfigUnavailable`` is raised (fail closed).
- ``score(features, client_id=...)``: the server's own scorer (``govloop_client.scoring``)
  applied locally to that config; the result names the config version it used. During a
  guarded rollout the config read carries the split's descriptor (rollout id, exposure, the
  candidate's version and payload), revalidated with the config (its ETag changes with the
  stage, exposure and state), and a case whose ``client_id`` falls in the candidate's cohort
  (``govloop_client.split``, the server's own hash) is scored with the candidate: no HTTP
  call per case.
- ``record_decision`` / ``record_kpi`` / ``record_learning_event``: buffered, sent in batches
  by a background thread and by ``flush()``, each item with its client id, so a batch whose
  answer was lost is sent again and stored once. An item leaves the buffer only when the
  server acknowledged it.
- ``reserve(engine, exposure)``: a context manager that reserves (or raises ``RiskDenied``)
  and settles on exit; ``require_prod_exec()`` raises while the go-live gate is closed.

Every HTTP call has connect and read timeouts.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from govloop_client import __version__
from govloop_client.errors import (
    ApiError,
    BufferFull,
    ConfigUnavailable,
    FlushFailed,
    NoActiveConfig,
    ProdExecBlocked,
    RiskDenied,
)
from govloop_client.scoring import Scorer, ScoreResult
from govloop_client.split import in_candidate_cohort

logger = logging.getLogger("govloop_client")

# Answers that may succeed when sent again: overload, a restarting server or proxy.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RolloutSplit:
    """A live guarded rollout of the family: cases whose bucket is below ``percent`` run
    the candidate (``candidate_id``, ``candidate_version``, ``candidate_scorer``)."""

    id: int
    state: str
    stage: int
    percent: int
    candidate_id: int
    candidate_version: str
    candidate_payload: dict[str, Any]
    candidate_scorer: Scorer = field(repr=False, compare=False)

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> RolloutSplit:
        candidate = body["candidate"]
        return cls(
            id=body["id"],
            state=body["state"],
            stage=body["stage"],
            percent=body["percent"],
            candidate_id=candidate["id"],
            candidate_version=candidate["version"],
            candidate_payload=candidate["payload"],
            candidate_scorer=Scorer(candidate["payload"]),
        )

    def in_candidate_cohort(self, client_id: str) -> bool:
        return in_candidate_cohort(rollout_id=self.id, client_id=client_id, percent=self.percent)


@dataclass(frozen=True)
class ActiveConfig:
    id: int
    family: str
    version: str
    payload: dict[str, Any]
    activated_at: str | None
    etag: str | None
    scorer: Scorer = field(repr=False, compare=False)
    rollout: RolloutSplit | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any], etag: str | None) -> ActiveConfig:
        rollout = body.get("rollout")
        return cls(
            id=body["id"],
            family=body["family"],
            version=body["version"],
            payload=body["payload"],
            activated_at=body.get("activated_at"),
            etag=etag,
            scorer=Scorer(body["payload"]),
            # A descriptor names a candidate; a per-case answer (with ``client_id``) does not.
            rollout=RolloutSplit.from_response(rollout)
            if isinstance(rollout, Mapping) and "candidate" in rollout
            else None,
        )


@dataclass(frozen=True)
class Scored:
    """A local score and the config version that produced it; during a guarded rollout, with
    a ``client_id``, the rollout and the case's cohort (``"candidate"`` or ``"baseline"``)."""

    result: ScoreResult
    config_id: int
    config_version: str
    rollout_id: int | None = None
    cohort: str | None = None

    @property
    def decision(self) -> str:
        return self.result.decision

    @property
    def band(self) -> str:
        return self.result.band

    def as_dict(self) -> dict[str, Any]:
        """The shape of the server's ``POST /api/calibration/score`` answer."""
        out = {
            **self.result.as_dict(),
            "version": {"id": self.config_id, "version": self.config_version},
        }
        if self.rollout_id is not None:
            out["rollout"] = {"id": self.rollout_id, "cohort": self.cohort}
        return out


@dataclass
class _Cached:
    config: ActiveConfig
    validated_at: float


@dataclass(frozen=True)
class _Queue:
    name: str
    path: str
    max_batch: int
    wrap: Callable[[list[dict[str, Any]]], Any]


_QUEUES = {
    "decisions": _Queue("decisions", "/api/calibration/decisions", 1000, lambda items: items),
    "kpi": _Queue(
        "kpi", "/api/governance/regression/kpi/batch", 10_000, lambda items: {"events": items}
    ),
    "learning": _Queue(
        "learning", "/api/learning/events/batch", 10_000, lambda items: {"events": items}
    ),
    # A settlement that could not be sent at once; the server refuses a second settlement
    # with 409 SETTLED, which is the acknowledgement of the first.
    "settlements": _Queue("settlements", "/api/governance/risk/settle", 1, lambda items: items[0]),
}


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _new_id() -> str:
    return uuid.uuid4().hex


class Reservation:
    """An open risk reservation. Set ``realised_loss`` before it settles (on leaving the
    ``with`` block, or by ``settle()``)."""

    def __init__(self, client: Client, *, id: int, engine: str, exposure: Decimal) -> None:
        self.client = client
        self.id = id
        self.engine = engine
        self.exposure = exposure
        self.realised_loss = Decimal(0)
        self.settled = False

    def settle(self, realised_loss: Decimal | float | int | None = None) -> None:
        if self.settled:
            return
        if realised_loss is not None:
            self.realised_loss = Decimal(str(realised_loss))
        self.client.settle(self.id, self.realised_loss)
        self.settled = True


class _ReserveContext:
    def __init__(self, client: Client, engine: str, exposure: Any, actions: int) -> None:
        self._args = (client, engine, exposure, actions)
        self._reservation: Reservation | None = None

    def __enter__(self) -> Reservation:
        client, engine, exposure, actions = self._args
        self._reservation = client.reserve_or_raise(engine, exposure, actions=actions)
        return self._reservation

    def __exit__(self, exc_type, exc, tb) -> None:
        # Settle whether the block succeeded or raised: the exposure is released either way,
        # with the loss the block recorded.
        assert self._reservation is not None
        self._reservation.settle()


class Client:
    """A governed system's connection to govloop. Thread-safe; one per process is enough.
    Use it as a context manager, or call ``close()``, so that buffered items are sent."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        revalidate_after: float = 5.0,
        max_stale: float = 300.0,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_buffer: int = 100_000,
        max_retries: int = 4,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        background: bool = True,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        if max_stale < revalidate_after:
            raise ValueError("max_stale must be at least revalidate_after")
        self.revalidate_after = revalidate_after
        self.max_stale = max_stale
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"govloop-client/{__version__}",
            },
            timeout=httpx.Timeout(
                connect=connect_timeout,
                read=read_timeout,
                write=read_timeout,
                pool=connect_timeout,
            ),
            transport=transport,
        )
        self._configs: dict[str, _Cached] = {}
        self._config_lock = threading.Lock()
        self._buffers: dict[str, deque[dict[str, Any]]] = {name: deque() for name in _QUEUES}
        self._buffer_lock = threading.Lock()
        # One sender at a time: a batch is removed from its buffer only after the server
        # acknowledged it, so two senders would send the same items twice.
        self._send_lock = threading.Lock()
        self.rejected: list[tuple[str, dict[str, Any], Any]] = []
        self._background = background
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # --- context manager ------------------------------------------------------------------

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background sender, send what is buffered, close the connections. Raises
        ``FlushFailed`` (after closing) if items could not be delivered."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        finally:
            self._closed = True
            self._http.close()

    # --- config and scoring ---------------------------------------------------------------

    def config(self, family: str = "scoring") -> ActiveConfig:
        entry = self._configs.get(family)
        if entry is not None and self._clock() - entry.validated_at < self.revalidate_after:
            return entry.config
        # One revalidation at a time; meanwhile other threads keep serving the cached copy
        # while it is within max_stale, instead of queueing behind the network call.
        if not self._config_lock.acquire(blocking=False):
            if entry is not None and self._clock() - entry.validated_at < self.max_stale:
                return entry.config
            self._config_lock.acquire()
        try:
            return self._revalidate(family)
        finally:
            self._config_lock.release()

    def _revalidate(self, family: str) -> ActiveConfig:
        entry = self._configs.get(family)
        now = self._clock()
        if entry is not None and now - entry.validated_at < self.revalidate_after:
            return entry.config
        headers = {}
        if entry is not None and entry.config.etag:
            headers["If-None-Match"] = entry.config.etag
        path = f"/api/governance/config/{family}/active"
        try:
            response = self._http.get(path, headers=headers)
            if response.status_code in TRANSIENT_STATUSES:
                raise ApiError(response.status_code, response.text, "GET", path)
        except (httpx.HTTPError, ApiError) as exc:
            if entry is not None and now - entry.validated_at < self.max_stale:
                logger.warning(
                    "govloop: serving cached %s %s (revalidation failed: %s)",
                    family,
                    entry.config.version,
                    exc,
                )
                return entry.config
            raise ConfigUnavailable(
                f"cannot read the active {family} config and no copy is fresher than "
                f"{self.max_stale}s: {exc}"
            ) from exc
        if response.status_code == 304 and entry is not None:
            entry.validated_at = now
            return entry.config
        if response.status_code == 404:
            # An authoritative answer, not an outage: forget the copy.
            self._configs.pop(family, None)
            raise NoActiveConfig(f"no ACTIVE {family} version")
        if response.status_code != 200:
            raise ApiError(response.status_code, _body(response), "GET", path)
        config = ActiveConfig.from_response(response.json(), response.headers.get("ETag"))
        self._configs[family] = _Cached(config, now)
        return config

    def score(
        self, features: Mapping[str, Any], family: str = "scoring", *, client_id: str | None = None
    ) -> Scored:
        """Score one case locally (no network call while the cached copy is fresh) with the
        ACTIVE config, or, during a guarded rollout, with the config of the case's cohort:
        the candidate's when ``client_id`` (the case's id, as the server's split takes it)
        falls in the candidate's cohort. Without a ``client_id`` a case runs the ACTIVE
        config. The result names the version used, and the rollout and cohort."""
        config = self.config(family)
        split = config.rollout
        if split is None or client_id is None:
            return Scored(config.scorer(features), config.id, config.version)
        if split.in_candidate_cohort(client_id[:64]):
            return Scored(
                split.candidate_scorer(features),
                split.candidate_id,
                split.candidate_version,
                rollout_id=split.id,
                cohort="candidate",
            )
        return Scored(
            config.scorer(features),
            config.id,
            config.version,
            rollout_id=split.id,
            cohort="baseline",
        )

    # --- buffered events ------------------------------------------------------------------

    def record_decision(
        self,
        scored: Scored,
        *,
        client_id: str | None = None,
        decided_at: dt.datetime | None = None,
        tier: str | None = None,
        was_correct: bool | None = None,
    ) -> str:
        """Buffer the decision a score led to; returns its ``client_id``."""
        result = scored.result
        row: dict[str, Any] = {
            "client_id": client_id or _new_id(),
            "score": result.score,
            "band": result.band,
            "confidence": result.confidence,
            "abstained": result.abstained,
            "escalated": result.escalate,
            "flags": list(result.flags),
            "config_version": scored.config_version,
            "decided_at": (decided_at.isoformat() if decided_at else _now_iso()),
        }
        if tier:
            row["tier"] = tier
        if was_correct is not None:
            row["was_correct"] = was_correct
        self._enqueue("decisions", row)
        return row["client_id"]

    def record_kpi(
        self,
        domain: str,
        metric: str,
        *,
        success: bool | None = None,
        value: float | None = None,
        event_id: str | None = None,
        created_at: dt.datetime | None = None,
    ) -> str:
        """Buffer a KPI event (its time is now, not when it is sent); returns its event_id."""
        item: dict[str, Any] = {
            "domain": domain,
            "metric": metric,
            "event_id": event_id or _new_id(),
            "created_at": created_at.isoformat() if created_at else _now_iso(),
        }
        if success is not None:
            item["success"] = success
        if value is not None:
            item["value"] = value
        self._enqueue("kpi", item)
        return item["event_id"]

    def record_learning_event(
        self,
        event_type: str,
        source_engine: str,
        *,
        subject: str | None = None,
        payload: Mapping[str, Any] | None = None,
        outcome: float | None = None,
        event_id: str | None = None,
        timestamp: dt.datetime | None = None,
    ) -> str:
        item: dict[str, Any] = {
            "event_type": event_type,
            "source_engine": source_engine,
            "event_id": event_id or _new_id(),
            "timestamp": timestamp.isoformat() if timestamp else _now_iso(),
        }
        if subject is not None:
            item["subject"] = subject
        if payload is not None:
            item["payload"] = dict(payload)
        if outcome is not None:
            item["outcome"] = outcome
        self._enqueue("learning", item)
        return item["event_id"]

    def pending(self) -> dict[str, int]:
        with self._buffer_lock:
            return {name: len(items) for name, items in self._buffers.items()}

    def _enqueue(self, queue: str, item: dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("the client is closed")
        with self._buffer_lock:
            if sum(len(items) for items in self._buffers.values()) >= self.max_buffer:
                raise BufferFull(f"{self.max_buffer} items wait to be sent; none was dropped")
            self._buffers[queue].append(item)
            full = len(self._buffers[queue]) >= self.batch_size
        if self._background:
            self._ensure_thread()
            if full:
                self._wake.set()

    def flush(self) -> int:
        """Send everything buffered now, retrying transient failures with backoff. Returns
        the number of items acknowledged; raises ``FlushFailed`` if some could not be sent
        (they stay buffered) and ``ApiError`` for an answer no retry can change."""
        return self._drain(retries=self.max_retries)

    def _drain(self, *, retries: int) -> int:
        sent = 0
        with self._send_lock:
            for name, queue in _QUEUES.items():
                # What is buffered now, not what producers add meanwhile: a flush ends.
                with self._buffer_lock:
                    remaining = len(self._buffers[name])
                while remaining:
                    with self._buffer_lock:
                        size = min(queue.max_batch, self.batch_size, remaining)
                        batch = list(itertools.islice(self._buffers[name], size))
                    try:
                        self._deliver(queue, batch, retries=retries)
                    except (httpx.HTTPError, _Transient) as exc:
                        raise FlushFailed(
                            f"could not send {name}: {exc}", pending=sum(self.pending().values())
                        ) from exc
                    with self._buffer_lock:
                        for _ in batch:
                            self._buffers[name].popleft()
                    sent += len(batch)
                    remaining -= len(batch)
        return sent

    def _deliver(self, queue: _Queue, items: list[dict[str, Any]], *, retries: int) -> None:
        """Deliver ``items`` or raise: acknowledged (201, or already stored), or rejected
        one by one into ``self.rejected`` when the server refuses them as invalid."""
        response = self._send("POST", queue.path, json=queue.wrap(items), retries=retries)
        if response.status_code in (200, 201):
            return
        body = _body(response)
        if queue.name == "settlements" and response.status_code in (404, 409):
            if not _already_settled(response.status_code, body):
                logger.error("govloop: the server refused a settlement: %s", body)
                self.rejected.append((queue.name, items[0], body))
            return
        if response.status_code != 400:
            raise ApiError(response.status_code, body, "POST", queue.path)
        if queue.name == "decisions":
            taken = _taken_decisions(body, len(items))
            if taken is not None:
                # Stored by an earlier attempt whose answer was lost: acknowledged.
                rest = [item for i, item in enumerate(items) if i not in taken]
                if rest:
                    self._deliver(queue, rest, retries=retries)
                return
        if len(items) == 1:
            logger.error("govloop: the server refused a %s item: %s", queue.name, body)
            self.rejected.append((queue.name, items[0], body))
            return
        # A batch is all or nothing: split it to find the refused items and send the rest.
        middle = len(items) // 2
        self._deliver(queue, items[:middle], retries=retries)
        self._deliver(queue, items[middle:], retries=retries)

    def _send(
        self, method: str, path: str, *, retries: int, connect_only: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request, sent again after a transient failure with exponential backoff and
        jitter. ``connect_only`` retries only failures to connect (the request never reached
        the server), for requests that are not idempotent."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
                if response.status_code not in TRANSIENT_STATUSES:
                    return response
                error: Exception = _Transient(f"{method} {path} answered {response.status_code}")
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = exc
            except httpx.TransportError as exc:
                if connect_only:
                    raise
                error = exc
            if connect_only and isinstance(error, _Transient):
                raise error
            if attempt >= retries:
                raise error
            delay = min(self.max_backoff, self.backoff * 2**attempt)
            self._sleep(delay * (0.5 + random.random() / 2))
            attempt += 1

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._buffer_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="govloop-client-sender", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            wait = min(self.max_backoff, self.flush_interval * 2**failures)
            self._wake.wait(wait if failures else self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                # One attempt per tick: the ticks themselves are the retries, spaced by
                # backoff while the server is away.
                self._drain(retries=0)
                failures = 0
            except Exception as exc:
                failures += 1
                logger.warning("govloop: sending buffered items failed (%s); will retry", exc)

    # --- levers ---------------------------------------------------------------------------

    def require_prod_exec(self) -> None:
        """Raise ``ProdExecBlocked`` unless production execution is allowed now: asks the
        go-live gate itself (the request carries ``X-Execution-Class: PROD_EXEC``), and
        raises too when the gate cannot be read."""
        path = "/api/governance/go-live/state"
        try:
            response = self._http.get(path, headers={"X-Execution-Class": "PROD_EXEC"})
        except httpx.HTTPError as exc:
            raise ProdExecBlocked(
                f"the go-live gate cannot be read: {exc}", code="unreadable"
            ) from exc
        body = _body(response)
        if response.status_code == 423:
            reason = body.get("reason", "") if isinstance(body, dict) else ""
            code = body.get("code", "locked") if isinstance(body, dict) else "locked"
            detail = body.get("detail", "") if isinstance(body, dict) else str(body)
            raise ProdExecBlocked(
                f"production execution is locked: {detail}", code=code, reason=reason
            )
        if response.status_code != 200 or not isinstance(body, dict):
            raise ProdExecBlocked(
                f"the go-live gate answered {response.status_code}: {body!r}"[:300],
                code="unreadable",
            )
        if body.get("kill_switch_engaged"):
            raise ProdExecBlocked(
                "the kill switch is engaged", code="kill_switch", reason=body.get("reason", "")
            )
        if not body.get("enabled"):
            raise ProdExecBlocked(
                "go-live is disabled", code="go_live_disabled", reason=body.get("reason", "")
            )

    def reserve_or_raise(
        self, engine: str, exposure: Decimal | float | int | str, *, actions: int = 1
    ) -> Reservation:
        """Reserve exposure on an engine's daily caps, or raise ``RiskDenied``."""
        amount = Decimal(str(exposure))
        path = "/api/governance/risk/reserve"
        # Not idempotent: sent again only when it never reached the server.
        response = self._send(
            "POST",
            path,
            retries=self.max_retries,
            connect_only=True,
            json={"engine": engine, "exposure": str(amount), "actions": actions},
        )
        body = _body(response)
        if response.status_code != 200:
            raise ApiError(response.status_code, body, "POST", path)
        if not body["ok"]:
            raise RiskDenied(body.get("reason") or "denied", reservation_id=body["reservation_id"])
        return Reservation(self, id=body["reservation_id"], engine=engine, exposure=amount)

    def reserve(
        self, engine: str, exposure: Decimal | float | int | str, *, actions: int = 1
    ) -> _ReserveContext:
        """``with client.reserve("checkout", 120) as r: ...; r.realised_loss = 3``: reserves
        on entry (or raises ``RiskDenied``) and settles on exit, even when the block raises."""
        return _ReserveContext(self, engine, exposure, actions)

    def settle(self, reservation_id: int, realised_loss: Decimal | float | int | str = 0) -> bool:
        """Settle a reservation: True when settled now, False when the server could not be
        reached and the settlement waits in the buffer (sent by the next flush)."""
        item = {"reservation_id": reservation_id, "realised_loss": str(Decimal(str(realised_loss)))}
        path = _QUEUES["settlements"].path
        try:
            response = self._send("POST", path, json=item, retries=self.max_retries)
        except (httpx.HTTPError, _Transient) as exc:
            logger.warning("govloop: settlement %s deferred: %s", reservation_id, exc)
            self._enqueue("settlements", item)
            return False
        body = _body(response)
        if response.status_code == 200 or _already_settled(response.status_code, body):
            return True
        raise ApiError(response.status_code, body, "POST", path)


class _Transient(Exception):
    """A transient answer (429, 5xx) after the last retry."""


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _already_settled(status_code: int, body: Any) -> bool:
    """A 409 naming the SETTLED state answers a settlement sent again after its first answer
    was lost: the first one was applied."""
    return status_code == 409 and isinstance(body, dict) and body.get("current_state") == "SETTLED"


def _taken_decisions(body: Any, count: int) -> set[int] | None:
    """The batch indexes the server refused only because their client id is already stored
    (``{"3.client_id": ["a decision with this client id exists"]}``), or None when the batch
    was refused for anything else."""
    if not isinstance(body, dict) or not body:
        return None
    taken = set()
    for key, messages in body.items():
        index, _, name = str(key).partition(".")
        if name != "client_id" or not index.isdigit() or int(index) >= count:
            return None
        if not all("exists" in str(m) for m in messages):
            return None
        taken.add(int(index))
    return taken
