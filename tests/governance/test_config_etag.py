"""Config reads with ETag: a governed system revalidates its cached copy with If-None-Match
and gets 304, from the cache, while the active version is unchanged."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import ConfigVersion, VersionState
from governance.services.ledger import Actor
from governance.services.versions import (
    version_activate,
    version_approve,
    version_register,
    version_rollback,
)
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db

URL = "/api/governance/config/scoring/active"


def active_scoring(tenant):
    """Each new version is based on the active one (a stale base does not activate)."""
    return ConfigVersion.objects.filter(
        tenant=tenant, family__name="scoring", state=VersionState.ACTIVE
    ).first()


@pytest.fixture
def activate(tenant, author, reviewer, django_capture_on_commit_callbacks):
    def make(version: str, **payload):
        with django_capture_on_commit_callbacks(execute=True):
            v = version_register(
                tenant=tenant,
                family="scoring",
                version=version,
                payload=scoring_payload(**payload),
                actor=Actor.for_user(author),
                base_version=active_scoring(tenant),
                submit=True,
            )
            v = version_approve(version=v, user=reviewer, reason="ok")
            return version_activate(
                version=v, user=reviewer, acknowledge_breaking=True, reason="ship"
            )

    return make


def test_a_matching_if_none_match_is_a_304_without_a_config_query(api, activate):
    activate("1.0.0")
    first = api.get(URL)
    etag = first.headers["ETag"]

    with CaptureQueriesContext(connection) as queries:
        again = api.get(URL, HTTP_IF_NONE_MATCH=etag)

    assert first.status_code == 200 and first.json()["version"] == "1.0.0"
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert not [q for q in queries.captured_queries if "governance_configversion" in q["sql"]]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("{etag}", id="exact"),
        pytest.param("W/{etag}", id="weak"),
        pytest.param('"other", {etag}', id="in-a-list"),
        pytest.param("*", id="any"),
    ],
)
def test_weak_listed_and_wildcard_if_none_match_forms_match(api, activate, header):
    activate("1.0.0")
    etag = api.get(URL).headers["ETag"]

    assert api.get(URL, HTTP_IF_NONE_MATCH=header.format(etag=etag)).status_code == 304


def test_an_activation_or_a_rollback_changes_the_etag(
    api, activate, reviewer, django_capture_on_commit_callbacks
):
    v1 = activate("1.0.0")
    etag_v1 = api.get(URL).headers["ETag"]

    activate("1.1.0", thresholds=[0.45, 0.7])
    after_activation = api.get(URL, HTTP_IF_NONE_MATCH=etag_v1)

    v1.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        version_rollback(version=v1, user=reviewer, reason="regression")
    after_rollback = api.get(URL, HTTP_IF_NONE_MATCH=after_activation.headers["ETag"])

    assert after_activation.status_code == 200
    assert after_activation.json()["version"] == "1.1.0"
    assert after_rollback.status_code == 200
    assert after_rollback.json()["version"] == "1.0.0"
    # The same version re-activated is a new answer (a new activation time), not v1's copy.
    assert after_rollback.headers["ETag"] != etag_v1


def test_a_stale_etag_gets_the_full_answer_and_no_active_version_is_404(api, activate):
    assert api.get(URL, HTTP_IF_NONE_MATCH="*").status_code == 404
    activate("1.0.0")

    response = api.get(URL, HTTP_IF_NONE_MATCH='"1-2020-01-01T00:00:00+00:00"')

    assert response.status_code == 200
    assert response.json()["version"] == "1.0.0"
