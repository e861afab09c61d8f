"""schemathesis against the OpenAPI document: every operation, with generated valid and
invalid input, under a tenant's machine token. No input may produce a 5xx, and every response
must match the schema the endpoint declares. Besides schemathesis's own values, the hooks
below draw hostile variants of each generated body and query (a NUL or a lone surrogate in a
string or a key, an integer beyond any column, nesting beyond the parser's limit), which the
input hygiene must turn into a 400. Bounded: a few examples per operation."""

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
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from governance.api.hygiene import MAX_DEPTH
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

# What issue 14 sent: PostgreSQL refuses a NUL, UTF-8 cannot encode a lone surrogate, no
# column holds 10**40. The transport escapes them in the JSON text (\u0000, \ud800).
HOSTILE_STRINGS = ["\x00", "a\x00b", "\ud800", "x\udfff"]
HOSTILE_INTEGERS = [10**40, -(10**40), 2**63]


def _leaf_paths(value, path=()):
    """Paths to every string and integer (not boolean) in a JSON value, without recursion."""
    found: dict[type, list[tuple]] = {str: [], int: []}
    stack = [(value, path)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, (*at, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*at, index)) for index, child in enumerate(item))
        elif isinstance(item, str):
            found[str].append(at)
        elif isinstance(item, int) and not isinstance(item, bool):
            found[int].append(at)
    return found


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def _nested(value, depth):
    for _ in range(depth):
        value = [value]
    return value


def _with_body(case, body):
    # Set past Case.__setattr__, which would mark the body for revalidation against the
    # schema by jsonschema_rs: it cannot take a lone surrogate, and the hostile body is
    # meant to be invalid anyway. The checks below (no 5xx, response conformance) do not
    # depend on that bookkeeping.
    object.__setattr__(case, "body", body)
    return case


@schema.hook
def flatmap_case(context, case):
    """The generated case, or one whose body is a hostile variant of the generated body. Only
    a JSON body can carry a lone surrogate (escaped), an integer or nesting; a form carries
    NULs."""
    body = case.body
    if not isinstance(body, dict | list):
        return st.just(case)
    is_json = "json" in (case.media_type or "")
    strings = HOSTILE_STRINGS if is_json else [bad for bad in HOSTILE_STRINGS if "\x00" in bad]
    leaves = _leaf_paths(body)
    variants = [st.just(body)]
    if leaves[str]:
        variants.append(
            st.builds(
                lambda path, bad: _replaced(body, path, bad),
                st.sampled_from(leaves[str]),
                st.sampled_from(strings),
            )
        )
    if is_json:
        variants.append(st.just(_nested(body, MAX_DEPTH + 1)))
        if leaves[int]:
            variants.append(
                st.builds(
                    lambda path, bad: _replaced(body, path, bad),
                    st.sampled_from(leaves[int]),
                    st.sampled_from(HOSTILE_INTEGERS),
                )
            )
        if isinstance(body, dict):
            variants.append(st.sampled_from(strings).map(lambda bad: {**body, bad: 1}))
    return st.one_of(variants).map(lambda hostile: _with_body(case, hostile))


@schema.hook
def flatmap_query(context, query):
    """The generated query, or one with a NUL in one of its values."""
    if not query:
        return st.just(query)
    return st.one_of(
        st.just(query), st.sampled_from(sorted(query)).map(lambda name: {**query, name: "x\x00"})
    )


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
