"""`risk_reserve`: reservations per second with 8 concurrent clients on one engine (all
queueing on that engine's policy row lock), against the least a correct reservation can do
in plain SQL: one conditional UPDATE of the day's running total and one INSERT of the
reservation per transaction, by the same 8 clients."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, connections, transaction
from django.utils import timezone

from governance.benchmarking import Figure, benchmark, require_postgres
from governance.models import GoLiveState, RiskDay, RiskPolicy, RiskReservation, Tenant
from governance.services.ledger import Actor
from governance.services.levers import risk_reserve

CLIENTS = 8
ACTOR = Actor.system("benchmark")


def _tenant(label: str) -> Tenant:
    tenant = Tenant.objects.create(slug=f"bench-{label}-{uuid.uuid4().hex[:8]}", name=label)
    GoLiveState.objects.create(tenant=tenant, enabled=True)
    RiskPolicy.objects.create(
        tenant=tenant, engine="WHOLESALE", enabled=True, max_daily_exposure=Decimal("1e12")
    )
    return tenant


def _run_clients(work: Callable[[int], None], per_client: int) -> float:
    barrier = threading.Barrier(CLIENTS + 1)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            barrier.wait()
            for i in range(per_client):
                work(i)
        except BaseException as exc:  # surfaced below: a failed client must fail the run
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


@benchmark("risk_reserve")
def risk_reserve_benchmark(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    per_client = max(10, int(250 * scale))
    ours_tenant, raw_tenant = _tenant("risk"), _tenant("risk-raw")

    def ours(_: int) -> None:
        check = risk_reserve(tenant=ours_tenant.pk, engine="WHOLESALE", exposure=10, actor=ACTOR)
        if not check.ok:
            raise RuntimeError(f"unexpected denial: {check.reason}")

    day = timezone.now().astimezone(dt.UTC).date()
    day_row = RiskDay.objects.create(tenant=raw_tenant, engine="WHOLESALE", day=day)
    update_sql = (
        f"UPDATE {RiskDay._meta.db_table} SET open_exposure = open_exposure + %s, "
        "actions = actions + 1 WHERE id = %s AND open_exposure + %s <= %s RETURNING id"
    )
    insert_sql = (
        f"INSERT INTO {RiskReservation._meta.db_table} (tenant_id, engine, day, exposure, "
        "actions, outcome, denial_reason, actor, created_at) "
        "VALUES (%s, 'WHOLESALE', %s, %s, 1, 'RESERVED', '', %s, %s)"
    )

    def raw(_: int) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(update_sql, [Decimal(10), day_row.pk, Decimal(10), Decimal("1e12")])
            if cursor.fetchone() is None:
                raise RuntimeError("unexpected denial")
            cursor.execute(
                insert_sql, [raw_tenant.pk, day, Decimal(10), ACTOR.label, timezone.now()]
            )

    ours(0)  # warm-up
    ours_seconds = _run_clients(ours, per_client)
    raw_seconds = _run_clients(raw, per_client)
    granted = RiskReservation.objects.filter(tenant=ours_tenant, outcome="RESERVED").count()
    if granted != CLIENTS * per_client + 1:
        raise RuntimeError(f"{granted} reservations granted, expected {CLIENTS * per_client + 1}")
    connections.close_all()
    total = CLIENTS * per_client
    return [
        Figure(
            name="risk_reserve reservations/s (8 concurrent clients, one engine)",
            ours=total / ours_seconds,
            baseline=total / raw_seconds,
            unit="reservations/s",
            higher_is_better=True,
            baseline_label="plain SQL: conditional UPDATE of the day's total + INSERT, 8 clients",
            notes={"reservations": total, "clients": CLIENTS},
        )
    ]
