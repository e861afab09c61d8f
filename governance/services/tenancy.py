from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from governance.errors import ValidationFailed
from governance.kernel.authority import is_reviewer_of
from governance.kernel.kinds import LedgerKind
from governance.models import ApiToken, Tenant
from governance.models.tenancy import generate_raw_token, hash_token
from governance.services.ledger import Actor, ledger_append


@transaction.atomic
def api_token_create(
    *,
    tenant: Tenant,
    name: str,
    actor: Actor,
    user=None,
    raw: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and only its hash is stored. ``raw`` is
    for the demo only, whose token must be printable again on every run."""
    if ApiToken.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationFailed({"name": [f"tenant {tenant.slug} already has a token {name!r}"]})
    if user is not None and not is_reviewer_of(user=user, tenant_id=tenant.pk):
        # The authentication refuses such a token on every request anyway; refusing it here
        # says why at the moment someone could fix it, instead of a 401 later.
        raise ValidationFailed(
            {
                "user": [
                    f"{user.get_username()} is not an active reviewer member of tenant "
                    f"{tenant.slug}: a personal token acts only while its user is active, in "
                    "the reviewer group and a member of the token's tenant"
                ]
            }
        )
    raw = raw or generate_raw_token()
    token = ApiToken.objects.create(
        tenant=tenant,
        name=name,
        user=user,
        key_hash=hash_token(raw),
        prefix=raw[:12],
        created_at=now or timezone.now(),
    )
    ledger_append(
        tenant=tenant,
        kind=LedgerKind.TOKEN_CREATED,
        actor=actor,
        subject=token,
        payload={"name": name, "personal_for": user.get_username() if user else None},
        now=now,
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Actor, now: dt.datetime | None = None) -> ApiToken:
    now = now or timezone.now()
    if ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now) == 1:
        ledger_append(
            tenant=token.tenant_id,
            kind=LedgerKind.TOKEN_REVOKED,
            actor=actor,
            subject=token,
            payload={"name": token.name},
            now=now,
        )
    token.refresh_from_db(fields=["revoked_at"])
    return token
