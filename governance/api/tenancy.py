"""Which tenant a request acts for. A token is bound to its tenant; a logged-in user names one
with the ``X-Tenant`` header (or ``?tenant=``) among their memberships, or has exactly one."""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError

from governance.models import ApiToken, Tenant
from governance.selectors import tenants_for_user
from governance.services.ledger import Actor


def request_tenant(request) -> Tenant:
    cached = getattr(request, "_govloop_tenant", None)
    if cached is not None:
        return cached
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        tenant = auth.tenant
    else:
        user = request.user
        visible = tenants_for_user(user)
        slug = request.headers.get("X-Tenant") or request.query_params.get("tenant")
        if slug:
            tenant = visible.filter(slug=slug).first()
            if tenant is None:
                raise NotFound(f"tenant {slug!r} not found")
        else:
            choices = list(visible[:2])
            if len(choices) != 1:
                raise ValidationError(
                    {"tenant": ["name the tenant with the X-Tenant header or ?tenant=<slug>"]}
                )
            tenant = choices[0]
    request._govloop_tenant = tenant
    return tenant


def request_actor(request) -> Actor:
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiToken):
        return Actor.for_token(auth)
    return Actor.for_user(request.user)


def request_human(request):
    """The logged-in person behind the request, or None for a machine token."""
    user = request.user
    if getattr(user, "pk", None) is None:
        return None
    return user


class TenantScopedMixin:
    """Restricts a viewset's queryset to the request's tenant: another tenant's ids are 404."""

    tenant_field = "tenant"

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset.filter(**{self.tenant_field: request_tenant(self.request)})

    @property
    def tenant(self) -> Tenant:
        return request_tenant(self.request)
