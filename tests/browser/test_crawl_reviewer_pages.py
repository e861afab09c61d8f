"""No dead ends: each demo role logs in, starts at the control room and follows every
same-origin link of every admin page it reaches, in real Chromium. Every page answers below
400, except the designed "you may not do this" page (403), which names the permission and
links back to the control room.

Bounded so it stays fast: logout, add/delete/history forms and other tenants' pages are not
followed; paths are deduplicated with their ids replaced (at most ``PER_PATTERN`` per
pattern) and each role stops after ``MAX_PAGES``."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROLES = ("admin", "reviewer", "author", "viewer")
MAX_PAGES = 300
PER_PATTERN = 1
# Sorting, paging, search and facet switches show the same page again.
SAME_PAGE_PARAMS = {"o", "p", "q", "e", "all", "_facets", "_changelist_filters"}
# Links that change state or lead away from reading: never followed.
SKIP = re.compile(
    r"/logout/|/add/|/delete/|/history/|/password/|/autocomplete/|/jsi18n/|/r/\d+/|^/static/"
)
IDS = re.compile(r"/(\d+|[0-9a-f]{8,}|run_\d+)(?=/)")


def pattern_of(path: str) -> str:
    return IDS.sub("/<id>", path)


def crawl(page, start: str) -> tuple[list[str], dict[int, list[str]]]:
    """Visit pages breadth-first from ``start``; return (pages visited, failures by status)."""
    origin = page.base_url
    queue, seen_urls = [start], {start}
    per_pattern: dict[str, int] = defaultdict(int)
    visited: list[str] = []
    failures: dict[int, list[str]] = defaultdict(list)
    while queue and len(visited) < MAX_PAGES:
        url = queue.pop(0)
        visited.append(url)
        if not url.startswith("/admin/"):
            # Outside the admin (the API docs behind "View site"): only its status matters.
            status = page.tab.context.request.get(origin + url).status
            if status >= 400:
                failures[status].append(url)
            continue
        response = page.tab.goto(origin + url, wait_until="domcontentloaded")
        status = response.status if response is not None else 0
        if status == 403 and page.tab.locator("#permission-denied").count():
            # The designed refusal: it names the permission and links back.
            assert page.tab.locator("#back-to-control-room").get_attribute("href") == "/admin/"
            page.console_errors[:] = [e for e in page.console_errors if "403" not in e]
            continue
        if status >= 400 or status == 0:
            failures[status].append(url)
            continue
        hrefs = page.tab.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != origin or SKIP.search(parts.path):
                continue
            query = [(k, v) for k, v in parse_qsl(parts.query) if k not in SAME_PAGE_PARAMS]
            link = parts.path + (f"?{urlencode(query)}" if query else "")
            if link in seen_urls:
                continue
            seen_urls.add(link)
            key = pattern_of(parts.path)
            if per_pattern[key] >= PER_PATTERN:
                continue
            per_pattern[key] += 1
            queue.append(link)
    return visited, failures


@pytest.mark.timeout(600)
def test_every_role_follows_every_link_without_a_dead_end(page):
    call_command("demo", "--force", verbosity=0)
    report = {}
    for role in ROLES:
        started = time.monotonic()
        page.login(role, f"{role}-demo-pass")
        visited, failures = crawl(page, reverse("admin:index"))
        report[role] = (len(visited), round(time.monotonic() - started, 1), dict(failures))
    print("pages, seconds, failures per role:", report)
    assert all(not failures for _, _, failures in report.values()), report
    # The crawl reached the reviewer pages, not just the index.
    assert all(count > 40 for count, _, _ in report.values()), report


def test_a_refused_page_is_designed_and_names_the_permission(page):
    call_command("demo", "--force", verbosity=0)
    page.login("viewer", "viewer-demo-pass")
    response = page.tab.goto(page.base_url + reverse("admin:auth_user_changelist"))
    assert response.status == 403
    page.console_errors.clear()
    assert page.tab.locator("#permission-denied").is_visible()
    assert page.tab.locator("#missing-permission").inner_text() == "Can view user"
    assert page.tab.locator("#back-to-control-room").is_visible()
    page.screenshot("permission-denied")
    page.tab.click("#back-to-control-room")
    page.tab.wait_for_load_state()
    assert page.tab.locator("#control-room").is_visible()
