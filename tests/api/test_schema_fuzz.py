"""schemathesis against the OpenAPI document: every operation, with generated valid and
invalid input, under a tenant's machine token. No input may produce a 5xx, and every response
must match the schema the endpoint declares. Bounded: a few examples per operation."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create

# Per operation, on top of the coverage phase's boundary cases (which found real 500s).
MAX_EXAMPLES = 10


def _openapi_document() -> dict:
    """The document `/api/schema/` serves, built in-process: collection runs before any
    database is available, and the generator needs none."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


schema = schemathesis.openapi.from_dict(_openapi_document())
schema.app = WSGIHandler()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: the in-process requests share the test's transaction,
    so the end of a request must not close the connection under it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def reviewer_token(tenant, reviewer):
    """A reviewer's personal token: it reaches the human acts (approve, activate, release)."""
    _, raw = api_token_create(
        tenant=tenant, name="reviewer-personal", user=reviewer, actor=Actor.system("test")
    )
    return raw


def check_response_against_schema(case, token: str) -> None:
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_no_input_gives_a_server_error_or_breaks_the_response_schema(case, machine_token):
    check_response_against_schema(case, machine_token)


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_a_reviewers_input_gives_no_server_error_or_schema_break(case, reviewer_token):
    check_response_against_schema(case, reviewer_token)
