"""Shared fixtures. Tests marked ``postgres`` or ``redis`` need the real server: on the
embedded default they are skipped and named in one closing line, and with REQUIRE_SERVICES=1
any such skip is a failure."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from tests.factories import TenantFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
_skipped_server_tests: list[str] = []


CHROMIUM = "/usr/bin/chromium"


def _services_present() -> dict[str, bool]:
    url = os.environ.get("DATABASE_URL", "")
    return {
        "postgres": url.startswith(("postgres://", "postgresql://")),
        "redis": bool(os.environ.get("REDIS_URL")),
        "browser": os.access(CHROMIUM, os.X_OK),
    }


def _serialize_transactional_tests(item) -> None:
    """Every transactional test restores the migrations' data (default tenant, groups, seeded
    policies and schedules) with serialized rollback. Mixing it with plain transactional tests
    breaks: their flush re-creates content types that the next restore inserts again."""
    marker = item.get_closest_marker("django_db")
    kwargs = dict(marker.kwargs) if marker else {}
    transactional = kwargs.get("transaction") or {"live_server", "transactional_db"} & set(
        getattr(item, "fixturenames", ())
    )
    if transactional and not kwargs.get("serialized_rollback"):
        kwargs.update(transaction=True, serialized_rollback=True)
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


def pytest_collection_modifyitems(config, items):
    present = _services_present()
    for item in items:
        _serialize_transactional_tests(item)
        for marker in ("postgres", "redis", "browser"):
            if item.get_closest_marker(marker) and not present[marker]:
                if REQUIRE_SERVICES:
                    item.user_properties.append(("missing_service", marker))
                else:
                    _skipped_server_tests.append(item.nodeid)
                    reason = (
                        f"needs {CHROMIUM} (apt-get install chromium)"
                        if marker == "browser"
                        else f"needs a real {marker} server"
                    )
                    item.add_marker(pytest.mark.skip(reason=reason))
                    break


def pytest_runtest_setup(item):
    for name, value in item.user_properties:
        if name == "missing_service":
            what = CHROMIUM if value == "browser" else f"{value} server"
            pytest.fail(f"REQUIRE_SERVICES=1 but no {what} is available", pytrace=False)


def pytest_terminal_summary(terminalreporter):
    if _skipped_server_tests:
        terminalreporter.write_line(
            f"server-only tests skipped ({len(_skipped_server_tests)}, no PostgreSQL/Redis/Chromium): "
            + ", ".join(_skipped_server_tests)
        )


@pytest.fixture(autouse=True)
def _own_ledger_anchor_file(settings, tmp_path):
    """Each test signs its ledger anchors into its own file. SQLite hands a rolled-back test's
    tenant ids out again, so a file shared by the suite would hold anchors of an earlier
    tenant 2 that contradict the chain of the next one."""
    settings.LEDGER_ANCHOR_FILE = tmp_path / "ledger-anchors.jsonl"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="globex")


def _user_in(group: str, tenant, **kwargs):
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get(name=group))
    if tenant is not None:
        user.memberships.create(tenant=tenant)
    return user


@pytest.fixture
def make_reviewer(db, tenant):
    def make(username=None, for_tenant=None):
        kwargs = {"username": username} if username else {}
        return _user_in("reviewer", for_tenant or tenant, **kwargs)

    return make


@pytest.fixture
def reviewer(make_reviewer):
    return make_reviewer("rita")


@pytest.fixture
def second_reviewer(make_reviewer):
    return make_reviewer("sam")


@pytest.fixture
def author(make_reviewer):
    """A reviewer who authors versions (four eyes: they cannot approve their own)."""
    return make_reviewer("alex")


@pytest.fixture
def viewer(db, tenant):
    return _user_in("viewer", tenant, username="vic")


@pytest.fixture
def system_actor():
    return Actor.system("test")


@pytest.fixture
def machine_token(tenant):
    _, raw = api_token_create(tenant=tenant, name="machine", actor=Actor.system("test"))
    return raw


@pytest.fixture
def api(machine_token):
    """An API client authenticated with the tenant's machine token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {machine_token}")
    return client


@pytest.fixture
def reviewer_api(reviewer, tenant):
    client = APIClient()
    client.force_login(reviewer)
    client.credentials(HTTP_X_TENANT=tenant.slug)
    return client


@pytest.fixture
def api_as(tenant):
    """``api_as(user)``: an API client logged in as that user, acting for ``tenant``."""

    def make(user, for_tenant=None):
        client = APIClient()
        client.force_login(user)
        client.credentials(HTTP_X_TENANT=(for_tenant or tenant).slug)
        return client

    return make
