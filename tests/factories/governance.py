from __future__ import annotations

import copy
from typing import Any

import factory
from django.contrib.auth import get_user_model

from governance.models import ConfigFamily, ConfigVersion, Tenant

SCORING_PAYLOAD: dict[str, Any] = {
    "weights": {"risk_signal": 0.6, "velocity": 0.4},
    "bias": 0.0,
    "bands": ["LOW", "MEDIUM", "HIGH"],
    "thresholds": [0.4, 0.7],
    "flag_rules": [
        {"name": "velocity_spike", "feature": "velocity", "operator": ">=", "value": 0.9}
    ],
    "escalate_on": ["velocity_spike"],
    "min_confidence": 0.1,
    "confidence_margin": 0.1,
}


def scoring_payload(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(SCORING_PAYLOAD)
    payload.update(overrides)
    return payload


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def _save(self, create, extracted, **kwargs):
        if create:
            self.save()


class ConfigVersionFactory(factory.django.DjangoModelFactory):
    """A bare row in a chosen state, for tests that do not exercise the workflow itself.
    Tests of the workflow go through the services."""

    class Meta:
        model = ConfigVersion

    tenant = factory.SubFactory(TenantFactory)
    family = factory.LazyAttribute(
        lambda o: ConfigFamily.objects.get_or_create(tenant=o.tenant, name="scoring")[0]
    )
    version = factory.Sequence(lambda n: f"1.{n}.0")
    payload = factory.LazyFunction(scoring_payload)
