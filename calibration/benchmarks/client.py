"""`client`: the Python client (govloop_client) against the real server, in one run.

- local scoring: 100,000 evaluations through ``Client.score`` (the cached, revalidated config
  and the server's own scorer) against calling the scorer function ``score(payload,
  features)`` directly, and against scoring over HTTP (``POST /api/calibration/score``);
- config reads through the harness's WSGI server (``serve_wsgi``) over one keep-alive
  connection: a revalidation answered 304 against a full read answered 200, and against a
  constant DRF view with the same middleware and authentication.

This module is also the benchmark's URLconf: the constant view is mounted beside the
project's URLs only while the benchmark runs.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connections
from django.test.utils import override_settings
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration.benchmarks.pipeline import PAYLOAD
from calibration.scoring import score
from governance.benchmarking import (
    Figure,
    bench_tenant,
    benchmark,
    best_of_interleaved,
    serve_wsgi,
)
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import version_activate, version_approve, version_register
from govloop_client import Client

ACTOR = Actor.system("benchmark")
CONSTANT_CONFIG = {
    "id": 1,
    "family": "scoring",
    "version": "1.0.0",
    "payload": PAYLOAD,
    "activated_at": "2026-01-01T00:00:00+00:00",
}


class ConstantConfigView(APIView):
    """The floor: the same DRF stack (authentication, permissions, JSON rendering) answering
    a config-shaped constant body, with no work behind it."""

    def get(self, request):
        return Response(CONSTANT_CONFIG)


urlpatterns = [
    path("bench/constant-config", ConstantConfigView.as_view()),
    path("", include("governance.urls")),
]


def _active_tenant() -> tuple[str, int]:
    tenant = bench_tenant("client")
    _, token = api_token_create(tenant=tenant, name="bench", actor=ACTOR)
    reviewer = get_user_model().objects.create_superuser(
        username=f"bench-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex
    )
    version = version_register(
        tenant=tenant, family="scoring", version="1.0.0", payload=PAYLOAD, actor=ACTOR, submit=True
    )
    version = version_approve(version=version, user=reviewer, reason="benchmark")
    version_activate(version=version, user=reviewer, reason="benchmark")
    return token, tenant.pk


def _requests(
    port: int, method: str, url: str, n: int, headers: dict[str, str], expect: int, body=None
) -> float:
    """``n`` requests over one keep-alive connection; returns their seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start = time.perf_counter()
        for _ in range(n):
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
            if response.status != expect:
                raise RuntimeError(f"{url} answered {response.status}: {content[:200]!r}")
        return time.perf_counter() - start
    finally:
        conn.close()


@benchmark("client")
def client_benchmark(*, scale: float = 1.0) -> list[Figure]:
    token, _ = _active_tenant()
    cache.clear()
    evaluations = max(10_000, int(100_000 * scale))
    requests = max(100, int(300 * scale))
    rows = [{"risk_signal": (i % 997) / 997, "velocity": (i % 89) / 89} for i in range(1000)]
    url = "/api/governance/config/scoring/active"
    auth = {"Authorization": f"Bearer {token}", "Host": "localhost"}
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False), serve_wsgi() as port:
        try:
            client = Client(f"http://127.0.0.1:{port}", token, background=False)
            client.score(rows[0])  # the first config read (200)

            def local() -> None:
                for i in range(evaluations):
                    client.score(rows[i % 1000])

            def direct() -> None:
                for i in range(evaluations):
                    score(PAYLOAD, rows[i % 1000])

            local_s, direct_s = best_of_interleaved(local, direct, repeat=3)

            body = json.dumps({"features": rows[1]}).encode()
            post = {**auth, "Content-Type": "application/json"}
            _requests(port, "POST", "/api/calibration/score", 20, post, 200, body)  # warm-up
            http_score_s = _requests(
                port, "POST", "/api/calibration/score", requests, post, 200, body
            )

            etag = client.config().etag
            revalidate = {**auth, "If-None-Match": etag}
            for headers, expect, target in (
                (auth, 200, url),
                (revalidate, 304, url),
                (auth, 200, "/bench/constant-config"),
            ):
                _requests(port, "GET", target, 20, headers, expect)  # warm-up
            full_s, not_modified_s, constant_s = best_of_interleaved(
                lambda: _requests(port, "GET", url, requests, auth, 200),
                lambda: _requests(port, "GET", url, requests, revalidate, 304),
                lambda: _requests(port, "GET", "/bench/constant-config", requests, auth, 200),
                repeat=3,
            )
            client.close()
        finally:
            connections.close_all()
    server = "harness WSGI server (threaded wsgiref), 127.0.0.1, one keep-alive connection"
    return [
        Figure(
            name=f"client local scoring ({evaluations:,} evaluations)",
            ours=evaluations / local_s,
            baseline=evaluations / direct_s,
            unit="evaluations/s",
            higher_is_better=True,
            baseline_label="the scorer function score(payload, features) called directly",
            notes={"seconds_ours": round(local_s, 3), "seconds_direct": round(direct_s, 3)},
        ),
        Figure(
            name="client local scoring vs scoring over HTTP",
            ours=evaluations / local_s,
            baseline=requests / http_score_s,
            unit="evaluations/s",
            higher_is_better=True,
            baseline_label="POST /api/calibration/score, one keep-alive connection",
            notes={"requests": requests, "server": server},
        ),
        Figure(
            name="config read: 304 revalidation vs a 200 full read",
            ours=requests / not_modified_s,
            baseline=requests / full_s,
            unit="requests/s",
            higher_is_better=True,
            baseline_label="GET .../config/scoring/active answered 200",
            notes={"requests": requests, "server": server},
        ),
        Figure(
            name="config read: 304 revalidation vs a constant DRF view",
            ours=requests / not_modified_s,
            baseline=requests / constant_s,
            unit="requests/s",
            higher_is_better=True,
            baseline_label="constant DRF GET view, same middleware and authentication",
            notes={"requests": requests, "config_200_per_s": round(requests / full_s, 1)},
        ),
    ]
