import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from governance.settings.env import env_bool, env_int, env_list, env_str
from governance.settings.keys import (
    DEV_LEDGER_SIGNING_KEY,
    DEV_SECRET_KEY,
    TEST_LEDGER_SIGNING_KEY,
    key_problems,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1", True, id="one"),
        pytest.param("true", True, id="true"),
        pytest.param("off", False, id="off"),
        pytest.param("0", False, id="zero"),
    ],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, value, expected):
    monkeypatch.setenv("GOVLOOP_TEST_FLAG", value)

    assert env_bool("GOVLOOP_TEST_FLAG") is expected


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        pytest.param(lambda: env_bool("GOVLOOP_TEST_X"), "maybe", "not a boolean", id="bool"),
        pytest.param(lambda: env_int("GOVLOOP_TEST_X", 1), "ten", "not an integer", id="int"),
        pytest.param(
            lambda: env_int("GOVLOOP_TEST_X", 1, minimum=1), "0", "below its minimum", id="min"
        ),
    ],
)
def test_a_bad_value_fails_loudly_naming_the_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("GOVLOOP_TEST_X", value)

    with pytest.raises(ImproperlyConfigured, match=f"GOVLOOP_TEST_X.*{message}"):
        reader()


def test_a_required_variable_that_is_missing_fails_loudly(monkeypatch):
    monkeypatch.delenv("GOVLOOP_TEST_REQUIRED", raising=False)

    with pytest.raises(ImproperlyConfigured, match="GOVLOOP_TEST_REQUIRED is required"):
        env_str("GOVLOOP_TEST_REQUIRED")


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("GOVLOOP_TEST_HOSTS", "a.example, b.example,,")

    assert env_list("GOVLOOP_TEST_HOSTS", []) == ["a.example", "b.example"]


def check_production(settings_module="governance.settings.production", **env):
    drop = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LEDGER_SIGNING_KEY", "DEBUG")
    clean = {k: v for k, v in os.environ.items() if k not in drop}
    clean.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        ALLOWED_HOSTS="govloop.example.com",
        DATABASE_URL="postgres://govloop:secret@db.example:5432/govloop",
        REDIS_URL="redis://redis.example:6379/0",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = check_production(
        SECRET_KEY="x" * 20 + "production-secret-key-with-enough-entropy-1234567890",
        LEDGER_SIGNING_KEY="a-separate-ledger-signing-key-0987654321",
        GOVLOOP_VAR_DIR=str(tmp_path),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_production_refuses_to_boot_without_a_ledger_key(tmp_path):
    env = {"SECRET_KEY": "y" * 60, "GOVLOOP_VAR_DIR": str(tmp_path)}
    result = check_production(**env)

    assert result.returncode != 0
    assert "LEDGER_SIGNING_KEY is required" in result.stderr


@pytest.mark.slow
def test_the_filesystem_broker_keeps_its_control_folder_under_the_var_dir(tmp_path):
    cwd, var = tmp_path / "cwd", tmp_path / "var"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="governance.settings.base",
        DEBUG="1",
        GOVLOOP_VAR_DIR=str(var),
        PYTHONPATH=str(ROOT),
    )
    publish = (
        "import django; django.setup(); from governance.celery import app; "
        "app.send_task('governance.tasks.ledger_anchor_heads')"
    )

    result = subprocess.run(
        [sys.executable, "-c", publish],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert list(cwd.iterdir()) == []
    assert list((var / "celery" / "control").glob("*.exchange"))
    assert list((var / "celery" / "queue").iterdir())


STRONG_SECRET_KEY = "x" * 20 + "production-secret-key-with-enough-entropy-1234567890"
STRONG_LEDGER_KEY = "a-separate-ledger-signing-key-0987654321"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "reason"),
    [
        pytest.param(
            {"LEDGER_SIGNING_KEY": ""}, "LEDGER_SIGNING_KEY is shorter than 32 bytes", id="empty"
        ),
        pytest.param(
            {"LEDGER_SIGNING_KEY": "k" * 31},
            "LEDGER_SIGNING_KEY is shorter than 32 bytes",
            id="31-bytes",
        ),
        pytest.param(
            {"LEDGER_SIGNING_KEY": STRONG_SECRET_KEY},
            "LEDGER_SIGNING_KEY equals SECRET_KEY",
            id="equals-secret-key",
        ),
        pytest.param(
            {"LEDGER_SIGNING_KEY": DEV_LEDGER_SIGNING_KEY},
            "LEDGER_SIGNING_KEY is a development default",
            id="development-default",
        ),
        pytest.param(
            {"LEDGER_SIGNING_KEY": TEST_LEDGER_SIGNING_KEY},
            "LEDGER_SIGNING_KEY is a development default",
            id="test-default",
        ),
        pytest.param(
            {"LEDGER_SIGNING_KEY": STRONG_LEDGER_KEY, "DEBUG": "1"},
            "DEBUG=1 is refused by the production settings",
            id="debug",
        ),
    ],
)
def test_production_refuses_to_boot_with_a_weak_ledger_key_or_debug(tmp_path, env, reason):
    result = check_production(
        **{"SECRET_KEY": STRONG_SECRET_KEY, "GOVLOOP_VAR_DIR": str(tmp_path), **env}
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "check_id"),
    [
        pytest.param({}, "govloop.E002", id="ledger-key-falls-back-to-secret-key"),
        pytest.param({"LEDGER_SIGNING_KEY": "short"}, "govloop.E001", id="short-ledger-key"),
        pytest.param(
            {"LEDGER_SIGNING_KEY": DEV_LEDGER_SIGNING_KEY}, "govloop.E003", id="public-key"
        ),
    ],
)
def test_check_deploy_says_why_a_key_is_weak_under_the_base_settings(tmp_path, env, check_id):
    result = check_production(
        "governance.settings.base",
        **{"SECRET_KEY": STRONG_SECRET_KEY, "GOVLOOP_VAR_DIR": str(tmp_path), **env},
    )

    assert result.returncode != 0
    assert check_id in result.stderr


def test_every_repository_default_is_a_key_problem():
    problems = key_problems(secret_key=DEV_SECRET_KEY, ledger_key=DEV_LEDGER_SIGNING_KEY)

    assert {problem.id for problem in problems} == {"govloop.E001", "govloop.E003", "govloop.E004"}
    assert key_problems(secret_key=STRONG_SECRET_KEY, ledger_key=STRONG_LEDGER_KEY) == []


@pytest.mark.parametrize(("visibility", "errors"), [(600, ["govloop.E005"]), (3600, [])])
def test_the_broker_visibility_timeout_must_outlast_every_task(settings, visibility, errors):
    from governance.checks import broker_visibility_check

    settings.CELERY_BROKER_URL = "redis://redis.example:6379/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": visibility}

    assert [error.id for error in broker_visibility_check(None)] == errors
