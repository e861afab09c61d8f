"""The API docs in real Chromium with every request outside our own server refused (the
network off, as far as the page can tell): Swagger UI and ReDoc still render the schema."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def offline(page, live_server) -> list[str]:
    """Abort every request that leaves the live server; returns the URLs it refused."""
    ours = urlsplit(live_server.url).netloc
    refused: list[str] = []

    def route(request_route):
        url = request_route.request.url
        if urlsplit(url).netloc == ours or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort()

    page.tab.route("**/*", route)
    return refused


def test_swagger_ui_renders_the_schema_offline(page, live_server):
    refused = offline(page, live_server)

    page.goto("/api/docs/")
    page.tab.wait_for_selector(".swagger-ui .info .title")
    page.screenshot("swagger-ui")

    assert "govloop API" in page.tab.inner_text(".swagger-ui .info .title")
    assert page.tab.locator(".opblock-tag-section").count() > 0
    assert refused == []


def test_redoc_renders_the_schema_offline(page, live_server):
    refused = offline(page, live_server)

    page.goto("/api/redoc/")
    page.tab.wait_for_selector("h1:has-text('govloop API')")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The viewport only: the whole document is too tall to capture in time.
    page.tab.screenshot(path=str(SCREENSHOTS / f"{page.test_name}-01-redoc.png"))

    assert refused == []
    # The bundle's sidebar credit asks for Redocly's logo from their CDN; our page's policy
    # refuses it before it leaves the browser, and the bundle hides the image.
    blocked = [e for e in page.console_errors if "cdn.redoc.ly" in e]
    expect(page.tab.locator("img[alt='redocly logo']")).to_have_count(0)
    page.console_errors = [e for e in page.console_errors if e not in blocked]
