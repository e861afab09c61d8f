"""Go-live gate: a request that says ``X-Execution-Class: PROD_EXEC`` runs only while its
tenant's go-live is enabled and the kill switch is released; otherwise it gets HTTP 423 with a
JSON reason. Requests without the header pay one dictionary lookup.

The tenant comes from the bearer token (sha256 lookup, cached) or, for a logged-in user, the
``X-Tenant`` header (or their only membership). A request with no usable credentials passes
through: nothing can execute without authentication, and the view answers 401/403. If the
state cannot be read (database and cache both failing) the gate fails closed."""

from __future__ import annotations

import contextlib
import logging

from django.core.cache import cache
from django.http import JsonResponse

from governance.models import ApiToken, Membership, Tenant
from governance.models.tenancy import hash_token
from governance.services.levers import go_live_block_reason

logger = logging.getLogger(__name__)

HEADER = "HTTP_X_EXECUTION_CLASS"
PROD_EXEC = "PROD_EXEC"
TOKEN_TENANT_TTL = 60
_NO_TENANT = 0


def _locked(code: str, detail: str, reason: str = "") -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code, "reason": reason}, status=423)


def _cached_lookup(key: str, compute) -> int:
    try:
        value = cache.get(key)
    except Exception:
        value = None
    if value is None:
        value = compute() or _NO_TENANT
        with contextlib.suppress(Exception):
            cache.set(key, value, TOKEN_TENANT_TTL)
    return value


def _tenant_from_token(raw: str) -> int:
    digest = hash_token(raw)
    return _cached_lookup(
        f"go-live:token:{digest}",
        lambda: (
            ApiToken.objects.filter(key_hash=digest, revoked_at__isnull=True)
            .values_list("tenant_id", flat=True)
            .first()
        ),
    )


def _tenant_from_session(request) -> int:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "pk", None) is None:
        return _NO_TENANT
    slug = request.headers.get("X-Tenant") or request.GET.get("tenant")
    if slug:
        tenant_id = Tenant.objects.filter(slug=slug).values_list("pk", flat=True).first()
        if (
            tenant_id
            and not user.is_superuser
            and not Membership.objects.filter(user=user, tenant_id=tenant_id).exists()
        ):
            return _NO_TENANT
        return tenant_id or _NO_TENANT
    ids = list(Membership.objects.filter(user=user).values_list("tenant_id", flat=True)[:2])
    return ids[0] if len(ids) == 1 else _NO_TENANT


def request_tenant_id(request) -> int:
    auth = request.headers.get("Authorization", "")
    scheme, _, raw = auth.partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        return _tenant_from_token(raw.strip())
    return _tenant_from_session(request)


class GoLiveMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        execution_class = request.META.get(HEADER)
        if execution_class is None or execution_class.strip().upper() != PROD_EXEC:
            return self.get_response(request)
        try:
            tenant_id = request_tenant_id(request)
            if tenant_id == _NO_TENANT:
                return self.get_response(request)
            blocked = go_live_block_reason(tenant_id=tenant_id)
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
