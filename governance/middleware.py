"""Go-live gate: a request that says ``X-Execution-Class: PROD_EXEC`` runs only while its
tenant's go-live is enabled and the kill switch is released; otherwise it gets HTTP 423 with a
JSON reason. Requests without the header pay one dictionary lookup.

Every ``X-Execution-Class`` value that mentions PROD_EXEC is gated, in any case and among
other values: servers join repeated headers with commas (``PROD_EXEC,SANDBOX``), and a gate
that compared the whole value would let a second header through.

The gate identifies the request exactly as the API does: it runs DRF's own authentication
classes (``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``) and the API's tenant
resolution (``governance.api.tenancy.request_tenant``) on the same request, so a header that
DRF accepts (``Bearer<TAB>token``, any case of ``bearer``) identifies the tenant here too, and
the bearer authenticator's result is reused by the view (one token lookup per request). The
gate also checks the Django session user beside a token (or when DRF refuses the
credentials): that is the identity a non-API view would act as. A request that identifies no
tenant passes through: nothing can execute without authentication, and the view answers
401/403/404. If the state cannot be read (a database error) the gate fails closed with 423;
a cache error only means the state is read from the database
(``governance.services.levers.go_live_block_reason``)."""

from __future__ import annotations

import contextlib
import logging

from django.http import JsonResponse
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from governance.api.tenancy import request_tenant
from governance.models import ApiToken
from governance.services.levers import go_live_block_reason

logger = logging.getLogger(__name__)

HEADER = "HTTP_X_EXECUTION_CLASS"
PROD_EXEC = "PROD_EXEC"
_NO_TENANT = 0


def _locked(code: str, detail: str, reason: str = "") -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, "reason": reason}, status=423)


def is_prod_exec(request) -> bool:
    value = request.META.get(HEADER)
    return value is not None and PROD_EXEC in value.upper()


class _DjangoSessionUser:
    """The user Django's AuthenticationMiddleware attached (what a non-API view acts as)."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return user, None


def _tenant_as(request, authenticators) -> tuple[int, bool]:
    """The tenant the API would act for with these authenticators, and whether that identity
    came from a token; raises APIException when the API would refuse the request. DRF's
    Request writes the identity it finds (or the anonymous user) onto the HttpRequest:
    Django's are put back, so that the next attempt and non-API views see the request as the
    middleware stack left it."""
    saved = {name: request.__dict__[name] for name in ("user", "auth") if name in request.__dict__}
    try:
        drf_request = Request(request, authenticators=authenticators)
        user, auth = drf_request.user, drf_request.auth
        by_token = isinstance(auth, ApiToken)
        if user is None or not user.is_authenticated:
            return _NO_TENANT, by_token
        if not by_token and getattr(user, "pk", None) is None:
            return _NO_TENANT, by_token
        return request_tenant(drf_request).pk, by_token
    finally:
        for name in ("user", "auth"):
            request.__dict__.pop(name, None)
        request.__dict__.update(saved)


def request_tenant_ids(request) -> set[int]:
    """Every tenant this request could act for: the API's identity (DRF's authentication
    classes) and, unless that already was the session, the Django session user that a
    non-API view acts as. The gate blocks the request if any of them is blocked."""
    tenants: set[int] = set()
    try:
        tenant_id, by_token = _tenant_as(
            request, [cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
        )
        tenants.add(tenant_id)
    except APIException:
        by_token = True  # the API refuses these credentials; a non-API view uses the session
    if by_token:
        with contextlib.suppress(APIException):
            tenants.add(_tenant_as(request, [_DjangoSessionUser()])[0])
    tenants.discard(_NO_TENANT)
    return tenants


class GoLiveMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_prod_exec(request):
            return self.get_response(request)
        try:
            blocked = None
            for tenant_id in sorted(request_tenant_ids(request)):
                blocked = go_live_block_reason(tenant_id=tenant_id)
                if blocked is not None:
                    break
        except Exception:
            logger.exception("go-live state unreadable: failing closed")
            return _locked(
                "go_live_state_unreadable",
                "the go-live state cannot be read: production execution is blocked",
            )
        if blocked is not None:
            detail = (
                "the kill switch is engaged"
                if blocked["code"] == "kill_switch"
                else "go-live is disabled"
            )
            return _locked(
                blocked["code"], f"{detail}: production execution is blocked", blocked["reason"]
            )
        return self.get_response(request)
