"""`hot_endpoints`: the runtime path under a real server. gunicorn (2 sync workers, the
project's WSGI application and middleware) on 127.0.0.1, loaded by `wrk` (Debian's package,
installed with apt-get when missing) with 2 threads and 32 connections. Each hot endpoint is
measured against a constant DRF view of the same method with the same middleware and
authentication, in the same run, the endpoints taking turns round by round.

This module is also the gunicorn workers' URLconf (``governance.bench_wsgi`` mounts it): the constant
views beside the project's URLs, only while the benchmark runs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from calibration.benchmarks.client import CONSTANT_CONFIG, _active_tenant
from calibration.benchmarks.pipeline import CONSTANT_BODY
from governance.benchmarking import Figure, benchmark, require_postgres
from governance.models import GoLiveState

WORKERS = 2
THREADS = 2
CONNECTIONS = 32


class ConstantGetView(APIView):
    """The floor of a GET: the DRF stack answering a config-shaped constant body."""

    def get(self, request):
        return Response(CONSTANT_CONFIG)


class ConstantPostView(APIView):
    """The floor of a POST: the DRF stack parsing the JSON body and answering a constant."""

    def post(self, request):
        request.data  # parse the body, as the hot POST endpoints do  # noqa: B018
        return Response(CONSTANT_BODY)


urlpatterns = [
    path("bench/constant-get", ConstantGetView.as_view()),
    path("bench/constant-post", ConstantPostView.as_view()),
    path("", include("governance.urls")),
]


def _wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    as_root = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*as_root, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*as_root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        check=True,
        env=env,
    )
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(port: int, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/bench/constant-get",
        headers={"Authorization": f"Bearer {token}", "Host": "localhost"},
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not come up") from None
            time.sleep(0.2)


def _script(directory: Path, name: str, method: str, body: str | None) -> Path:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        escaped = body.replace("\\", "\\\\").replace('"', '\\"')
        lines += [f'wrk.body = "{escaped}"', 'wrk.headers["Content-Type"] = "application/json"']
    script = directory / f"{name}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def _load(
    wrk: str, port: int, target: str, script: Path, headers: dict[str, str], seconds: int
) -> float:
    """Requests/s of ``wrk`` against one endpoint; any non-2xx/3xx answer fails the run."""
    command = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{target}"], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise RuntimeError(f"{target}: errors under load:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    return float(match[1])


@benchmark("hot_endpoints")
def hot_endpoints(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    wrk = _wrk()
    token, tenant_id = _active_tenant()
    GoLiveState.objects.update_or_create(tenant_id=tenant_id, defaults={"enabled": True})
    cache.clear()
    connections.close_all()
    # Short rounds, many turns: on a shared machine load comes in bursts, and taking turns
    # often spreads them over every endpoint alike.
    seconds = max(2, round(5 * scale))
    rounds = 3
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "governance.settings.base"
        ),
        "GOVLOOP_BENCH_URLCONF": __name__,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "governance.bench_wsgi:application",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )
    auth = {"Authorization": f"Bearer {token}", "Host": "localhost"}
    score_body = '{"features": {"risk_signal": 0.55, "velocity": 0.92}}'
    kpi_body = '{"domain": "checkout", "metric": "approval_rate", "success": true}'
    results: dict[str, float] = {}
    try:
        _wait_until_up(port, token)
        etag = urllib.request.urlopen(
            urllib.request.Request(
                f"http://127.0.0.1:{port}/api/governance/config/scoring/active", headers=auth
            ),
            timeout=10,
        ).headers["ETag"]
        with tempfile.TemporaryDirectory(prefix="govloop-wrk-") as tmp:
            directory = Path(tmp)
            get, post = (
                _script(directory, "get", "GET", None),
                _script(directory, "score", "POST", score_body),
            )
            kpi = _script(directory, "kpi", "POST", kpi_body)
            constant_post = _script(directory, "constant", "POST", score_body)
            cases = {
                "constant DRF GET (floor)": ("/bench/constant-get", get, auth),
                "constant DRF POST (floor)": ("/bench/constant-post", constant_post, auth),
                "config read 200": ("/api/governance/config/scoring/active", get, auth),
                "config read 304": (
                    "/api/governance/config/scoring/active",
                    get,
                    {**auth, "If-None-Match": etag},
                ),
                "score": ("/api/calibration/score", post, auth),
                "KPI single event": ("/api/governance/regression/kpi", kpi, auth),
                "go-live state": ("/api/governance/go-live/state", get, auth),
            }
            for target, script, headers in cases.values():  # warm-up
                _load(wrk, port, target, script, headers, 1)
            for _ in range(rounds):
                for name, (target, script, headers) in cases.items():
                    rate = _load(wrk, port, target, script, headers, seconds)
                    results[name] = max(results.get(name, 0.0), rate)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    notes = {
        "server": f"gunicorn, {WORKERS} sync workers",
        "load": f"wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s, best of {rounds} rounds",
    }
    floors = {"GET": "constant DRF GET (floor)", "POST": "constant DRF POST (floor)"}
    methods = {
        "config read 200": "GET",
        "config read 304": "GET",
        "score": "POST",
        "KPI single event": "POST",
        "go-live state": "GET",
    }
    return [
        Figure(
            name=f"{name} under gunicorn",
            ours=results[name],
            baseline=results[floors[method]],
            unit="requests/s",
            higher_is_better=True,
            baseline_label=f"{floors[method]}, same middleware and authentication",
            notes=notes,
        )
        for name, method in methods.items()
    ]
