"""Factories and helpers for the control levers and the regression tripwires."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from governance.models import CharterPolicy, GoLiveState, RiskPolicy
from tests.factories.governance import TenantFactory
from tripwire.models import KPIEvent, RegressionPolicy, RegressionState

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


class GoLiveStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GoLiveState
        django_get_or_create = ("tenant",)

    tenant = factory.SubFactory(TenantFactory)
    enabled = True
    kill_switch_engaged = False


class RiskPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RiskPolicy
        django_get_or_create = ("tenant", "engine")

    tenant = factory.SubFactory(TenantFactory)
    engine = "WHOLESALE"
    enabled = True
    max_daily_exposure = Decimal("1000000.00")
    max_daily_loss = None
    max_daily_actions = None


class CharterPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CharterPolicy
        django_get_or_create = ("tenant", "domain")

    tenant = factory.SubFactory(TenantFactory)
    domain = "WHOLESALE"
    min_confidence_prod = 0.8
    min_sandbox_trials = 5
    min_success_rate = 0.8


class RegressionPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegressionPolicy
        django_get_or_create = ("tenant", "domain", "metric")
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    domain = "WHOLESALE"
    metric = "contract_rate"
    enabled = True
    window_events = 50
    baseline_events = 200
    max_drop_fraction = 0.2
    action = "THROTTLE"

    @factory.post_generation
    def with_state(self, create, extracted, **kwargs):
        if create:
            RegressionState.objects.get_or_create(policy=self)


def kpi_events(
    tenant,
    *,
    successes: int = 0,
    failures: int = 0,
    values: list[float] | None = None,
    domain: str = "WHOLESALE",
    metric: str = "contract_rate",
    start: dt.datetime = T0,
    step: dt.timedelta = dt.timedelta(seconds=1),
) -> dt.datetime:
    """Append events one ``step`` apart (failures after successes when mixed, so callers
    control the window precisely); returns the time just after the last one."""
    if values is not None:
        fields = [{"value": v} for v in values]
    else:
        fields = [{"success": True}] * successes + [{"success": False}] * failures
    KPIEvent.objects.bulk_create(
        KPIEvent(tenant=tenant, domain=domain, metric=metric, created_at=start + i * step, **f)
        for i, f in enumerate(fields)
    )
    return start + len(fields) * step
