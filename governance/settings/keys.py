"""What makes a key unfit for production. The production settings refuse to boot on any of
these problems; the deploy system check (``check --deploy``) reports them under any settings
module, so a production host started on the base settings is told why too."""

from __future__ import annotations

from typing import NamedTuple

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_LEDGER_SIGNING_KEY = "dev-insecure-ledger-key"
TEST_SECRET_KEY = "test-only-secret-key"
TEST_LEDGER_SIGNING_KEY = "test-ledger-signing-key"
# Every key written in this repository (development, test, build and benchmark defaults):
# anyone can read them, so none of them signs anything in production.
PUBLIC_KEYS = frozenset(
    {
        DEV_SECRET_KEY,
        DEV_LEDGER_SIGNING_KEY,
        TEST_SECRET_KEY,
        TEST_LEDGER_SIGNING_KEY,
        "build-only",
        "build-only-ledger",
        "benchmark-only-secret",
    }
)
# HMAC-SHA256 gains nothing from a key longer than its 32-byte output and loses strength
# with a shorter one.
MIN_LEDGER_KEY_BYTES = 32


class KeyProblem(NamedTuple):
    id: str
    message: str
    hint: str


def key_problems(*, secret_key: str, ledger_key: str) -> list[KeyProblem]:
    problems = []
    if len(ledger_key.encode()) < MIN_LEDGER_KEY_BYTES:
        problems.append(
            KeyProblem(
                "govloop.E001",
                f"LEDGER_SIGNING_KEY is shorter than {MIN_LEDGER_KEY_BYTES} bytes",
                "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        )
    if ledger_key == secret_key:
        problems.append(
            KeyProblem(
                "govloop.E002",
                "LEDGER_SIGNING_KEY equals SECRET_KEY",
                "Give the ledger its own key so a leaked or rotated SECRET_KEY does not void "
                "the anchors.",
            )
        )
    if ledger_key in PUBLIC_KEYS:
        problems.append(
            KeyProblem(
                "govloop.E003",
                "LEDGER_SIGNING_KEY is a development default written in the repository",
                "Anyone could sign anchors for a rewritten chain: set a secret key of your own.",
            )
        )
    if secret_key in PUBLIC_KEYS:
        problems.append(
            KeyProblem(
                "govloop.E004",
                "SECRET_KEY is a development default written in the repository",
                "Anyone could forge sessions: set a secret key of your own.",
            )
        )
    return problems
