"""The `manage.py benchmark` harness. Each app registers benchmarks in `<app>/benchmarks/*.py`
with ``@benchmark("name")``; a benchmark returns one or more ``Figure`` rows: our figure, a
baseline measured in the same run, and their ratio."""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection

REGISTRY: dict[str, Callable[..., list[Figure]]] = {}


@dataclass
class Figure:
    name: str
    ours: float
    baseline: float
    unit: str
    higher_is_better: bool
    baseline_label: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """ours relative to the baseline, oriented so that 1.0 means as good as the baseline
        and below 1.0 means worse (throughput: ours/base; time: base/ours)."""
        if self.higher_is_better:
            return self.ours / self.baseline if self.baseline else float("inf")
        return self.baseline / self.ours if self.ours else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def benchmark(name: str):
    def register(fn: Callable[..., list[Figure]]):
        REGISTRY[name] = fn
        return fn

    return register


def discover() -> dict[str, Callable[..., list[Figure]]]:
    for app_config in apps.get_app_configs():
        if app_config.name not in {"governance", "calibration", "learning", "tripwire"}:
            continue
        try:
            package = importlib.import_module(f"{app_config.name}.benchmarks")
        except ModuleNotFoundError:
            continue
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return REGISTRY


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return min(timings)


def best_of_interleaved(*fns: Callable[[], Any], repeat: int = 7) -> list[float]:
    """The fastest run of each function, in seconds, running them in turn ``repeat`` times.
    Taking turns exposes ours and its baseline to the same bursts of noise on a shared
    machine, where timing one after the other would compare a calm phase with a busy one."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for index, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[index] = min(best[index], time.perf_counter() - start)
    return best


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        raise RuntimeError("this benchmark needs PostgreSQL (run it with `make benchmark`)")


def bench_tenant(label: str):
    """A fresh tenant per benchmark run (ledger rows can never be deleted, so no reuse)."""
    import uuid

    from governance.models import Tenant

    return Tenant.objects.create(slug=f"bench-{label}-{uuid.uuid4().hex[:8]}", name=label)


@contextmanager
def serve_wsgi(app=None, port: int = 0) -> Iterator[int]:
    """The project's WSGI app (or ``app``) on 127.0.0.1 in a threaded server; yields the port
    (``port``, or a free one)."""
    import socket
    import threading
    from wsgiref.simple_server import WSGIRequestHandler

    from django.core.servers.basehttp import ThreadedWSGIServer
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def setup(self) -> None:
            # As gunicorn does: without TCP_NODELAY the response's header and body writes
            # meet the client's delayed ACK (about 40 ms per request).
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, *args) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", port), QuietHandler, allow_reuse_address=True)
    server.set_app(app or get_wsgi_application())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def post_batches(*, port: int, path: str, token: str, bodies: list[bytes]) -> float:
    """POST each JSON body over one keep-alive connection after a warm-up post of the first;
    returns the seconds the timed posts took. Any answer but 201 aborts the benchmark."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(body: bytes) -> None:
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        content = response.read()
        if response.status != 201:
            raise RuntimeError(f"batch refused: {response.status} {content[:300]!r}")

    try:
        post(bodies[0])  # warm-up: connection, token cache, query plans
        start = time.perf_counter()
        for body in bodies:
            post(body)
        return time.perf_counter() - start
    finally:
        conn.close()
