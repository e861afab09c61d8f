"""`make test` on a machine without PostgreSQL/Redis: server-only tests are skipped and named
in one closing line; with REQUIRE_SERVICES=1 each such skip is a failure instead."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = """
import pytest

@pytest.mark.postgres
def test_needs_postgres():
    pass

def test_runs_anywhere():
    pass
"""


def run_pytest(tmp_path, **env_overrides):
    sample = tmp_path / "test_sample.py"
    sample.write_text(SAMPLE)
    # The project's conftest, loaded the way pytest loads any conftest (after Django is set up).
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.pop("REQUIRE_SERVICES", None)
    env.update(env_overrides)
    env["GOVLOOP_VAR_DIR"] = str(tmp_path / "var")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            "-p",
            "no:randomly",
            str(sample),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_without_services_server_only_tests_are_skipped_and_named_in_a_closing_line(tmp_path):
    result = run_pytest(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "server-only tests skipped (1" in result.stdout
    assert "test_needs_postgres" in result.stdout.splitlines()[-2]
    assert "1 passed, 1 skipped" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_with_require_services_a_missing_server_fails_the_run(tmp_path):
    result = run_pytest(tmp_path, REQUIRE_SERVICES="1")

    assert result.returncode != 0
    assert "REQUIRE_SERVICES=1 but no postgres server is available" in result.stdout
    assert "1 passed, 1 error" in result.stdout.splitlines()[-1]


def test_govloop_services_absent_forces_the_embedded_default_where_servers_are_installed():
    env = {**os.environ, "GOVLOOP_SERVICES": "absent", "DATABASE_URL": "postgres://x/y"}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    probe = "import os; print(os.environ.get('DATABASE_URL'), os.environ.get('REDIS_URL'), os.environ['GOVLOOP_SERVICES'])"

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "with_services.py"),
            "--",
            sys.executable,
            "-c",
            probe,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "forced absent" in result.stdout
    assert result.stdout.splitlines()[-1] == "None None absent:PostgreSQL,Redis"
