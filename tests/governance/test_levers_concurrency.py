"""Reservations under real concurrency: threads against PostgreSQL."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection

from governance.models import RiskDay, RiskReservation
from governance.services import levers
from governance.services.ledger import Actor
from tests.factories.levers import GoLiveStateFactory, RiskPolicyFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_fifty_concurrent_reservations_against_a_cap_of_twenty_leave_exactly_twenty(tenant):
    GoLiveStateFactory(tenant=tenant, enabled=True)
    RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", max_daily_exposure=Decimal("200"))
    barrier = threading.Barrier(50)

    def reserve(_):
        barrier.wait()
        try:
            return levers.risk_reserve(
                tenant=tenant.pk,
                engine="WHOLESALE",
                exposure=Decimal("10"),
                actor=Actor.system("client"),
            )
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        checks = list(pool.map(reserve, range(50)))

    granted = [c for c in checks if c.ok]
    assert len(granted) == 20
    assert {c.reason for c in checks if not c.ok} == {"exposure_cap"}
    assert RiskReservation.objects.filter(outcome="RESERVED").count() == 20
    assert RiskReservation.objects.filter(outcome="DENIED").count() == 30
    day = RiskDay.objects.get(tenant=tenant, engine="WHOLESALE")
    assert day.open_exposure == Decimal("200.00") and day.actions == 20

    for check in granted[:5]:
        levers.risk_settle(
            tenant=tenant,
            reservation_id=check.reservation_id,
            realised_loss=1,
            actor=Actor.system("client"),
        )
    ledger = levers.risk_ledger_for_day(tenant=tenant)
    assert ledger["by_outcome"] == {"RESERVED": 15, "SETTLED": 5, "DENIED": 30}
    assert ledger["denials_by_reason"] == {"exposure_cap": 30}
    day.refresh_from_db()
    assert day.open_exposure == Decimal("150.00") and day.realised_loss == Decimal("5.00")
