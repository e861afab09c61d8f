"""Factories for the learning proofs. Rows in a chosen state for tests that do not exercise
the workflow itself; tests of the workflow go through ``learning.services.proofs``."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from learning.models.proofs import Incident, LearnedPolicy, Pattern
from tests.factories.governance import TenantFactory


class PatternFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pattern
        django_get_or_create = ("tenant", "key")

    tenant = factory.SubFactory(TenantFactory)
    key = factory.Sequence(lambda n: f"pattern-{n}")
    name = factory.LazyAttribute(lambda o: o.key.replace("-", " "))


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    tenant = factory.SubFactory(TenantFactory)
    pattern = factory.SubFactory(PatternFactory, tenant=factory.SelfAttribute("..tenant"))
    signature = factory.Sequence(lambda n: f"sig-{n:06d}")
    severity = 5
    occurred_at = factory.LazyFunction(timezone.now)


class LearnedPolicyFactory(factory.django.DjangoModelFactory):
    """A bare policy row; ``state`` is written through the queryset (the FSM field is
    protected), so use it for read-side tests and benchmarks only."""

    class Meta:
        model = LearnedPolicy
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    source_incident = factory.SubFactory(IncidentFactory, tenant=factory.SelfAttribute("..tenant"))
    pattern = factory.LazyAttribute(lambda o: o.source_incident.pattern)
    name = factory.Sequence(lambda n: f"policy {n}")

    @factory.post_generation
    def in_state(self, create, extracted, **kwargs):
        if create and extracted:
            LearnedPolicy.objects.filter(pk=self.pk).update(state=extracted)


def days(n: float) -> dt.timedelta:
    return dt.timedelta(days=n)
