#!/usr/bin/env python3
"""Run a command against throwaway PostgreSQL and Redis servers when their binaries are on this
machine, tearing them down after. Without them, run it on the embedded default (SQLite) and
tell the tests so (GOVLOOP_SERVICES=absent): server-only tests are then skipped and named,
or fail when REQUIRE_SERVICES=1.

GOVLOOP_SERVICES=absent in the caller's environment forces the embedded default even where the
binaries are installed (the CI's SQLite leg, or a newcomer's machine reproduced on this one).

Usage: with_services.py -- COMMAND [ARGS...]
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_pg_bin() -> str | None:
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return os.path.dirname(candidates[-1]) if candidates else None


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root; run them as the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def postgres(pg_bin: str) -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="govloop-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = os.path.join(root, "data")
    port = free_port()
    subprocess.run(
        as_postgres(
            [f"{pg_bin}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    subprocess.run(
        as_postgres(
            [f"{pg_bin}/pg_ctl", "-D", data, "-o", options, "-l", f"{root}/log", "-w", "start"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            [f"{pg_bin}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "govloop"],
            check=True,
        )
        yield f"postgres://postgres@127.0.0.1:{port}/govloop"
    finally:
        subprocess.run(
            as_postgres([f"{pg_bin}/pg_ctl", "-D", data, "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis(redis_bin: str) -> Iterator[str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="govloop-redis-")
    proc = subprocess.Popen(
        [
            redis_bin,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print(__doc__)
        return 2
    env = dict(os.environ)
    forced_absent = env.get("GOVLOOP_SERVICES", "").startswith("absent")
    pg_bin = None if forced_absent else find_pg_bin()
    redis_bin = None if forced_absent else shutil.which("redis-server")
    if forced_absent:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    with contextlib.ExitStack() as stack:
        if "DATABASE_URL" not in env and pg_bin:
            env["DATABASE_URL"] = stack.enter_context(postgres(pg_bin))
        if "REDIS_URL" not in env and redis_bin:
            env["REDIS_URL"] = stack.enter_context(redis(redis_bin))
        missing = [
            name
            for name, present in (
                ("PostgreSQL", "DATABASE_URL" in env),
                ("Redis", "REDIS_URL" in env),
            )
            if not present
        ]
        if missing:
            env["GOVLOOP_SERVICES"] = "absent:" + ",".join(missing)
            why = "forced absent (GOVLOOP_SERVICES)" if forced_absent else "not found"
            print(
                f"with_services: {', '.join(missing)} {why}; using the embedded default",
                flush=True,
            )
        proc = subprocess.Popen(argv, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
