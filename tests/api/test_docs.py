"""The API docs (Swagger UI at /api/docs/, ReDoc at /api/redoc/) work with the network off:
every script, stylesheet and icon they load is one of our own static files, and is served."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.django_db


class _Resources(HTMLParser):
    """Every URL a page loads by itself: scripts, stylesheets, icons, images."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def resources_of(html: str) -> list[str]:
    parser = _Resources()
    parser.feed(html)
    return parser.urls


def body_of(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        pytest.param(
            "/api/docs/",
            {"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"},
            id="swagger-ui",
        ),
        pytest.param("/api/redoc/", {"redoc.standalone.js"}, id="redoc"),
    ],
)
def test_the_docs_pages_load_only_our_own_static_files_and_each_is_served(client, page, expected):
    response = client.get(page)

    assert response.status_code == 200
    urls = resources_of(response.content.decode())
    assert {url.rsplit("/", 1)[-1].split("?")[0] for url in urls} >= expected
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another origin"
        assert parts.path.startswith(("/static/drf_spectacular_sidecar/", page)), url
        served = client.get(url)
        assert served.status_code == 200, url
        assert body_of(served), url


def test_swagger_ui_starts_from_a_script_on_our_origin_that_reads_our_schema(client):
    html = client.get("/api/docs/").content.decode()
    (script,) = [url for url in resources_of(html) if url.startswith("/api/docs/")]

    response = client.get(script)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in response.content.decode()
    assert '"/api/schema/"' in response.content.decode()
    assert "https://" not in response.content.decode()


def test_the_schema_the_docs_read_is_served(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert b"openapi: 3" in response.content
    # The docs pages themselves are not API operations.
    assert b"/api/redoc/" not in response.content
    assert b"/api/docs/" not in response.content


def test_redoc_forbids_images_from_other_origins(client):
    response = client.get("/api/redoc/")

    assert response["Content-Security-Policy"] == "img-src 'self' data:"
    assert "fonts.googleapis.com" not in response.content.decode()
