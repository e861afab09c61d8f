"""Playwright against Debian's Chromium (no browser download) and pytest-django's live server.

Each page a test visits is screenshotted into ``test-artifacts/screenshots/``; any JavaScript
console error or uncaught page error fails the test at teardown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import CHROMIUM

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still synchronous, so Django's async guard must stand aside while it runs.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # Django keeps connections in asgiref context-locals, and Playwright's running loop is a
    # different context: close them on each side, or one is orphaned and PostgreSQL refuses
    # to drop the test database at the end of the session.
    connections.close_all()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
        connections.close_all()


class Page:
    """A browser tab on the live server that records console errors and takes screenshots."""

    def __init__(self, tab, base_url: str, test_name: str):
        self.tab = tab
        self.base_url = base_url
        self.test_name = re.sub(r"[^A-Za-z0-9_]+", "_", test_name)
        self.console_errors: list[str] = []
        self.shots: list[Path] = []
        tab.on(
            "console",
            lambda msg: msg.type == "error" and self.console_errors.append(f"{msg.text}"),
        )
        tab.on("pageerror", lambda exc: self.console_errors.append(f"page error: {exc}"))

    def goto(self, path: str):
        response = self.tab.goto(self.base_url + path)
        assert response is not None and response.status < 400, (
            f"{path}: {response and response.status}"
        )
        return response

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.test_name}-{len(self.shots) + 1:02d}-{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def login(self, username: str, password: str = "pw"):
        self.tab.context.clear_cookies()
        self.goto("/admin/login/")
        self.tab.fill("#id_username", username)
        self.tab.fill("#id_password", password)
        self.tab.click("input[type=submit]")
        self.tab.wait_for_load_state()
        assert "/admin/login/" not in self.tab.url, f"login as {username} failed"

    def messages(self) -> list[str]:
        return [m.strip() for m in self.tab.locator("ul.messagelist li").all_inner_texts()]

    def transition(self, button_label: str, reason: str | None = None):
        """Click an FSM transition button on an admin change page and fill its reason form."""
        self.tab.get_by_role("button", name=button_label, exact=True).click()
        self.tab.wait_for_load_state()
        if reason is not None:
            self.tab.fill("textarea[name=reason]", reason)
            self.screenshot(f"{button_label.lower().replace(' ', '-')}-form")
            self.tab.get_by_role("button", name="Apply").click()
            self.tab.wait_for_load_state()


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    wrapper = Page(tab, live_server.url, request.node.name)
    yield wrapper
    context.close()
    assert not wrapper.console_errors, f"JavaScript console errors: {wrapper.console_errors}"
