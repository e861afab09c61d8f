#!/usr/bin/env python3
"""`make run`: the embedded demo. Migrates, collects static files once, seeds the demo
(idempotent), then runs the web server and ONE Celery worker with embedded beat (database
scheduler) on the filesystem broker. Ctrl-C stops them all.

Environment: PORT (8000), HOST (0.0.0.0); DEBUG defaults to 1 here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.chdir(ROOT)
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.base")
PYTHON = sys.executable
MANAGE = [PYTHON, "manage.py"]
HOST = os.environ.get("HOST", "0.0.0.0")
PORT = os.environ.get("PORT", "8000")


def step(*args: str) -> None:
    print(f"==> manage.py {' '.join(args)}", flush=True)
    subprocess.run([*MANAGE, *args], check=True)


def stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> int:
    # Ctrl-C must work even when a non-interactive shell started us with SIGINT ignored;
    # the handlers set here also reset the children's SIGINT to its default on exec.
    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    step("migrate", "--noinput", "-v", "1")
    if os.environ.get("DEBUG") not in ("1", "true", "yes", "on"):
        # runserver serves static files itself under DEBUG; without it WhiteNoise needs them.
        step("collectstatic", "--noinput", "-v", "0")
    step("demo")  # the settings create the filesystem broker's folders

    children = [
        subprocess.Popen([*MANAGE, "runserver", f"{HOST}:{PORT}", "--noreload"]),
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "governance",
                "worker",
                "-B",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ]
        ),
    ]

    print(
        f"\ngovloop is running: http://localhost:{PORT}/admin/  (API docs: "
        f"http://localhost:{PORT}/api/docs/)\n"
        "log in with a demo login printed above; Ctrl-C stops the web server, the worker "
        "and beat.\n",
        flush=True,
    )
    try:
        while True:
            for child in children:
                if child.poll() is not None:
                    print(f"run: {child.args[1:3]} exited with {child.returncode}; stopping")
                    return child.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nrun: stopping the web server, the worker and beat")
        return 0
    finally:
        stop(children)


if __name__ == "__main__":
    sys.exit(main())
