"""Who may make a governed change. One answer, used by every route (API, admin form, admin
action, command, task): the services call these, never a copy of them.

- A machine (a tenant's API token, or a ``system:*`` actor such as beat) may propose, record
  and tighten.
- A human act needs an active user in the reviewer group who is a member of the tenant, and
  a reason. Superusers are members of every tenant (they see every tenant in the admin too).
"""

from __future__ import annotations

from typing import Any

from governance.errors import Forbidden, ValidationFailed
from governance.models import Membership
from governance.services.ledger import Actor

REVIEW_PERMISSION = "governance.review"


def _user_id(user: Any) -> int | None:
    return getattr(user, "pk", None) if user is not None else None


def is_tenant_member(*, user: Any, tenant_id: int) -> bool:
    if _user_id(user) is None or not getattr(user, "is_active", False):
        return False
    if user.is_superuser:
        return True
    return Membership.objects.filter(user_id=user.pk, tenant_id=tenant_id).exists()


def is_reviewer_of(*, user: Any, tenant_id: int) -> bool:
    """An active person with the reviewer permission who belongs to the tenant."""
    return (
        _user_id(user) is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and user.has_perm(REVIEW_PERMISSION)
        and is_tenant_member(user=user, tenant_id=tenant_id)
    )


def require_reason(reason: str | None, *, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [f"{what} needs a reason"]})
    return reason


def require_human(*, user: Any, tenant_id: int, reason: str | None, what: str) -> Actor:
    """The actor of a human act, or Forbidden/ValidationFailed saying what is missing."""
    if _user_id(user) is None or not getattr(user, "is_authenticated", False):
        raise Forbidden(f"{what} is a human act: it needs a logged-in reviewer, not a machine")
    if not getattr(user, "is_active", False):
        raise Forbidden(f"{what}: the user {user.get_username()} is inactive")
    if not user.has_perm(REVIEW_PERMISSION):
        raise Forbidden(f"{what} is a human act: it needs a user in the reviewer group")
    if not is_tenant_member(user=user, tenant_id=tenant_id):
        raise Forbidden(f"{what}: {user.get_username()} is not a member of this tenant")
    require_reason(reason, what=what)
    return Actor.for_user(user)


def require_not_contributor(*, user: Any, contributors: list[str], what: str) -> None:
    """Four eyes: nobody who registered, edited or submitted a payload may approve it."""
    if Actor.for_user(user).label in set(contributors):
        raise Forbidden(
            f"four eyes: {user.get_username()} contributed to this payload and cannot {what} it"
        )


def require_human_actor(*, actor: Actor, tenant_id: int, reason: str | None, what: str) -> Actor:
    """:func:`require_human` for services handed an ``Actor`` (the API's request actor): the
    person is read back from the database, so a stale actor cannot outlive a membership."""
    from django.contrib.auth import get_user_model

    user = None
    if actor.is_human and actor.user_id is not None:
        user = get_user_model()._default_manager.filter(pk=actor.user_id).first()
    return require_human(user=user, tenant_id=tenant_id, reason=reason, what=what)
