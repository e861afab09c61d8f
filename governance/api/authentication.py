from __future__ import annotations

import datetime as dt

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.kernel.authority import is_reviewer_of
from governance.models import ApiToken
from governance.models.tenancy import hash_token

# last_used_at is a hint, not an audit record: write it at most once a minute per token.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


class MachinePrincipal:
    """``request.user`` for a machine token: authenticated, tenant-bound, never a reviewer."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"token:{token.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj=None) -> bool:
        return False

    def has_perms(self, perms, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        # The go-live gate (governance.middleware) authenticates the same HttpRequest with
        # this class before the view does: the view reuses that result, so the two cannot
        # disagree and the token is looked up once. Refusals are not kept: they raise again.
        memo = getattr(request._request, "_govloop_bearer", None)
        if memo is not None:
            return memo[0]
        result = self._authenticate(request)
        request._request._govloop_bearer = (result,)
        return result

    def _authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        raw = header[1].decode(errors="replace")
        token = (
            ApiToken.objects.select_related("tenant", "user")
            .filter(key_hash=hash_token(raw), revoked_at__isnull=True)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("invalid or revoked token")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        if token.user_id is not None:
            # A personal token acts only while its person may: active, a reviewer, and a
            # member of the token's tenant. Checked on every request, so removing a
            # membership or the reviewer group disarms the token at once.
            if not is_reviewer_of(user=token.user, tenant_id=token.tenant_id):
                raise exceptions.AuthenticationFailed(
                    "this personal token's user is no longer an active reviewer of its tenant"
                )
            return token.user, token
        return MachinePrincipal(token), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the bearer token in the OpenAPI document (drf-spectacular)."""

    target_class = "governance.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant's API token: `Authorization: Bearer glp_...` "
            "(`manage.py create_api_token`).",
        }
