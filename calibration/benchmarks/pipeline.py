"""Calibration benchmarks.

`score_endpoint`: POST /api/calibration/score through a real HTTP server (the project's WSGI
application served by wsgiref in a thread on 127.0.0.1), against a DRF endpoint that returns
a constant JSON body on the same server, with the same authentication, in the same run.

`collect_metrics`: ``metrics_collect`` over 1,000,000 decisions (and their flags) against a
hand-written SQL GROUP BY of the same aggregates.

This module is also the benchmark's URLconf: the constant endpoint is mounted beside the
project's URLs only while the benchmark runs.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import uuid
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test.utils import override_settings
from django.urls import include, path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration.services.pipeline import metrics_collect
from governance.benchmarking import Figure, bench_tenant, benchmark, best_of, require_postgres
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import version_activate, version_approve, version_register

ACTOR = Actor.system("benchmark")
PAYLOAD = {
    "weights": {"risk_signal": 0.6, "velocity": 0.4},
    "bias": 0.0,
    "bands": ["LOW", "MEDIUM", "HIGH"],
    "thresholds": [0.4, 0.7],
    "flag_rules": [
        {"name": "velocity_spike", "feature": "velocity", "operator": ">=", "value": 0.9}
    ],
    "escalate_on": ["velocity_spike"],
    "min_confidence": 0.1,
    "confidence_margin": 0.1,
}
CONSTANT_BODY = {
    "score": 0.5,
    "band": "MEDIUM",
    "confidence": 1.0,
    "flags": [],
    "escalate": False,
    "decision": "MEDIUM",
    "version": {"id": 1, "version": "1.0.0"},
}


class ConstantView(APIView):
    """The baseline: the same DRF stack (authentication, permissions, JSON parsing and
    rendering) and a body of the same shape, with no work behind it."""

    def post(self, request):
        request.data  # parse the body, as the score endpoint does  # noqa: B018
        return Response(CONSTANT_BODY)


urlpatterns = [
    path("bench/constant", ConstantView.as_view()),
    path("", include("governance.urls")),
]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _serve() -> tuple[WSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _timed_posts(port: int, url: str, body: bytes, token: str, n: int) -> list[float]:
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "Host": "localhost",
    }
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", url, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    return latencies


@benchmark("score_endpoint")
def score_endpoint(*, scale: float = 1.0) -> list[Figure]:
    tenant = bench_tenant("score")
    _, token = api_token_create(tenant=tenant, name="bench", actor=ACTOR)
    reviewer = get_user_model().objects.create_superuser(
        username=f"bench-{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex
    )
    version = version_register(
        tenant=tenant, family="scoring", version="1.0.0", payload=PAYLOAD, actor=ACTOR, submit=True
    )
    version = version_approve(version=version, user=reviewer, reason="benchmark")
    version_activate(version=version, user=reviewer, reason="benchmark")
    cache.clear()
    n = max(50, int(1000 * scale))
    body = json.dumps({"features": {"risk_signal": 0.55, "velocity": 0.92}}).encode()
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
        server, thread = _serve()
        port = server.server_address[1]
        try:
            for url in ("/api/calibration/score", "/bench/constant"):  # warm up
                _timed_posts(port, url, body, token, 20)
            ours: list[float] = []
            base: list[float] = []
            wall = {"ours": 0.0, "base": 0.0}
            # Alternate request by request so that the load of the (shared) machine falls on
            # both sides alike.
            for _ in range(n):
                for url, latencies, side in (
                    ("/api/calibration/score", ours, "ours"),
                    ("/bench/constant", base, "base"),
                ):
                    (latency,) = _timed_posts(port, url, body, token, 1)
                    latencies.append(latency)
                    wall[side] += latency
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
            connections.close_all()
    ours_ms, base_ms = np.array(ours) * 1000, np.array(base) * 1000
    notes = {"requests_each": len(ours), "server": "wsgiref, 1 thread, 127.0.0.1"}
    return [
        Figure(
            "score_endpoint p50",
            float(np.percentile(ours_ms, 50)),
            float(np.percentile(base_ms, 50)),
            "ms",
            False,
            "constant DRF endpoint",
            notes,
        ),
        Figure(
            "score_endpoint p99",
            float(np.percentile(ours_ms, 99)),
            float(np.percentile(base_ms, 99)),
            "ms",
            False,
            "constant DRF endpoint",
            notes,
        ),
        Figure(
            "score_endpoint throughput",
            len(ours) / wall["ours"],
            len(base) / wall["base"],
            "requests/s",
            True,
            "constant DRF endpoint",
            notes,
        ),
    ]


INSERT_DECISIONS = """
INSERT INTO calibration_decision (tenant_id, client_id, score, band, confidence, abstained,
    escalated, tier, config_version, decided_at, was_correct, outcome_at, recorded_at)
SELECT %(tenant)s, 'd-' || i, s.score,
    CASE WHEN s.score >= 0.7 THEN 'HIGH' WHEN s.score >= 0.4 THEN 'MEDIUM' ELSE 'LOW' END,
    s.conf, s.conf < 0.1, s.score >= 0.9,
    (ARRAY['standard', 'premium', 'fast'])[1 + i %% 3], '1.0.0',
    %(end)s - (i %% 29 + 1) * interval '1 day',
    CASE WHEN i %% 2 = 0 THEN random() < s.conf END,
    NULL, %(end)s
FROM (
    SELECT i, score, LEAST(1.0, LEAST(abs(score - 0.4), abs(score - 0.7)) / 0.1) AS conf
    FROM (SELECT i, random() AS score FROM generate_series(1, %(n)s) AS i) AS raw
) AS s
"""
INSERT_FLAGS = """
INSERT INTO calibration_decisionflag (decision_id, tenant_id, decided_at, name)
SELECT id, tenant_id, decided_at, 'velocity_spike' FROM calibration_decision
WHERE tenant_id = %(tenant)s AND escalated
UNION ALL
SELECT id, tenant_id, decided_at, 'thin_file' FROM calibration_decision
WHERE tenant_id = %(tenant)s AND score < 0.05
"""
BASELINE_GROUP_BY = """
SELECT LEAST(FLOOR(score * 100)::int, 99) AS hb, band,
       LEAST(FLOOR(confidence * 10)::int, 9) AS cb, tier,
       COUNT(*), COUNT(*) FILTER (WHERE escalated), COUNT(*) FILTER (WHERE abstained),
       COUNT(*) FILTER (WHERE was_correct IS NOT NULL), COUNT(*) FILTER (WHERE was_correct),
       SUM(score), SUM(confidence), SUM(confidence) FILTER (WHERE was_correct IS NOT NULL)
FROM calibration_decision
WHERE tenant_id = %(tenant)s AND decided_at >= %(start)s AND decided_at < %(end)s
GROUP BY 1, 2, 3, 4
"""
BASELINE_FLAGS = """
SELECT name, COUNT(*) FROM calibration_decisionflag
WHERE tenant_id = %(tenant)s AND decided_at >= %(start)s AND decided_at < %(end)s
GROUP BY name
"""


@benchmark("collect_metrics")
def collect_metrics(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    tenant = bench_tenant("metrics")
    n = max(1000, int(1_000_000 * scale))
    end = timezone.now().replace(microsecond=0)
    params = {"tenant": tenant.pk, "n": n, "end": end, "start": end - dt.timedelta(days=30)}
    with connection.cursor() as cursor:
        cursor.execute(INSERT_DECISIONS, params)
        cursor.execute(INSERT_FLAGS, params)
        cursor.execute("ANALYZE calibration_decision")
        cursor.execute("ANALYZE calibration_decisionflag")

    def baseline() -> None:
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_GROUP_BY, params)
            cursor.fetchall()
            cursor.execute(BASELINE_FLAGS, params)
            cursor.fetchall()

    snapshots = []

    def ours() -> None:
        snapshots.append(metrics_collect(tenant=tenant, actor=ACTOR, window_days=30, now=end))

    baseline()  # warm the buffer cache for both sides
    base_seconds = best_of(baseline)
    ours_seconds = best_of(ours)
    return [
        Figure(
            "collect_metrics over decisions",
            ours_seconds,
            base_seconds,
            "s",
            False,
            "hand-written SQL GROUP BY",
            {"decisions": n, "counted": snapshots[-1].decision_count},
        )
    ]
