"""The governance part of ``manage.py demo``: the demo tenant, its people, a machine token and
a scoring config with a proposal waiting for a reviewer. Idempotent: every step looks for its
result first. The other apps add their part in ``<app>/demo.py`` (``seed(tenant=, now=)``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from governance.models import ApiToken, ConfigVersion, Membership, Tenant, VersionState
from governance.models.tenancy import TOKEN_PREFIX
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import (
    version_activate,
    version_approve,
    version_register,
)

DEMO_TENANT = "demo"
DEMO_TOKEN_NAME = "demo-machine"
# Fixed, public demo credentials: `manage.py demo` refuses to run without DEBUG (or --force).
DEMO_PASSWORD_SUFFIX = "-demo-pass"


@dataclass(frozen=True)
class DemoUser:
    username: str
    group: str | None
    superuser: bool = False

    @property
    def password(self) -> str:
        return self.username + DEMO_PASSWORD_SUFFIX


DEMO_USERS = (
    DemoUser("admin", None, superuser=True),
    DemoUser("reviewer", "reviewer"),
    DemoUser("author", "reviewer"),
    DemoUser("viewer", "viewer"),
)

DEMO_SCORING = {
    "weights": {"risk_signal": 0.6, "velocity": 0.4},
    "bias": 0.0,
    "bands": ["LOW", "MEDIUM", "HIGH"],
    "thresholds": [0.4, 0.7],
    "flag_rules": [
        {"name": "velocity_spike", "feature": "velocity", "operator": ">=", "value": 0.9}
    ],
    "escalate_on": ["velocity_spike"],
    "min_confidence": 0.05,
    "confidence_margin": 0.1,
}


def demo_raw_token(tenant_slug: str = DEMO_TENANT) -> str:
    """The demo tenant's machine token, derived from a fixed seed so every run can print it.
    Never used for any other tenant."""
    digest = hashlib.sha256(f"govloop-demo-token:{tenant_slug}".encode()).hexdigest()
    return f"{TOKEN_PREFIX}demo_{digest[:40]}"


def _ensure_user(spec: DemoUser, tenant: Tenant):
    user, created = get_user_model().objects.get_or_create(
        username=spec.username,
        defaults={"is_staff": True, "is_superuser": spec.superuser, "email": ""},
    )
    if created or not user.check_password(spec.password):
        user.set_password(spec.password)
        user.save(update_fields=["password"])
    if spec.group:
        user.groups.add(Group.objects.get(name=spec.group))
    Membership.objects.get_or_create(user=user, tenant=tenant)
    return user


def _ensure_token(tenant: Tenant) -> str:
    raw = demo_raw_token(tenant.slug)
    if not ApiToken.objects.filter(tenant=tenant, name=DEMO_TOKEN_NAME).exists():
        api_token_create(tenant=tenant, name=DEMO_TOKEN_NAME, actor=Actor.system("demo"), raw=raw)
    return raw


def _ensure_scoring(tenant: Tenant, *, author, reviewer, now: dt.datetime) -> None:
    versions = ConfigVersion.objects.filter(tenant=tenant, family__name="scoring")
    if not versions.exists():
        first = version_register(
            tenant=tenant,
            family="scoring",
            version="1.0.0",
            payload=DEMO_SCORING,
            description="Initial scoring config",
            actor=Actor.for_user(author),
            submit=True,
            now=now - dt.timedelta(days=9),
        )
        first = version_approve(
            version=first,
            user=reviewer,
            reason="demo: reviewed the bands and weights",
            now=now - dt.timedelta(days=9) + dt.timedelta(hours=1),
        )
        version_activate(
            version=first,
            user=reviewer,
            reason="demo: go live",
            now=now - dt.timedelta(days=9) + dt.timedelta(hours=2),
        )
    if not versions.filter(version="1.1.0").exists():
        active = versions.filter(state=VersionState.ACTIVE).first()
        version_register(
            tenant=tenant,
            family="scoring",
            version="1.1.0",
            payload={**DEMO_SCORING, "thresholds": [0.42, 0.7]},
            base_version=active,
            description="Move the LOW|MEDIUM boundary up: too many decisions sit right on it",
            changes=[
                {
                    "description": "thresholds[0] 0.40 -> 0.42",
                    "impact": "non-breaking",
                    "affected_components": ["bands"],
                }
            ],
            actor=Actor.for_user(author),
            submit=True,
            now=now - dt.timedelta(hours=3),
        )


@dataclass
class DemoResult:
    tenant: Tenant
    users: tuple[DemoUser, ...]
    token: str


def seed_governance(*, now: dt.datetime) -> DemoResult:
    tenant, _ = Tenant.objects.get_or_create(slug=DEMO_TENANT, defaults={"name": "Demo tenant"})
    users = {spec.username: _ensure_user(spec, tenant) for spec in DEMO_USERS}
    token = _ensure_token(tenant)
    _ensure_scoring(tenant, author=users["author"], reviewer=users["reviewer"], now=now)
    return DemoResult(tenant=tenant, users=DEMO_USERS, token=token)
