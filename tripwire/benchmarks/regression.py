"""`kpi_ingest`: KPI events per second through the HTTP batch endpoint (a real HTTP server in
this process, 1,000-event batches over one keep-alive connection, every middleware, token
auth, JSON parsing, validation) against psycopg COPY of the same rows into the same table.

`tripwire_eval`: one policy's evaluation with 100,000 and then 2,000,000 events in the table,
against the raw SQL of the same windows (the window query through a bare cursor)."""

from __future__ import annotations

import datetime as dt
import json
import time

from django.db import connection, connections, transaction
from django.utils import timezone

from governance.benchmarking import (
    Figure,
    bench_tenant,
    benchmark,
    post_batches,
    require_postgres,
    serve_wsgi,
)
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from tripwire.models import KPIEvent, RegressionPolicy, RegressionState
from tripwire.selectors import kpi_window_sql
from tripwire.services.regression import regression_evaluate

COLUMNS = ("tenant_id", "domain", "metric", "success", "value", "event_id", "actor", "created_at")


def _batch(i: int, size: int) -> list[dict]:
    return [
        {
            "domain": "WHOLESALE",
            "metric": "contract_rate",
            "success": (i * size + j) % 10 != 0,
            "actor": "bench",
        }
        for j in range(size)
    ]


@benchmark("kpi_ingest")
def kpi_ingest(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    size = 1000
    batches = max(5, int(50 * scale))
    payloads = [json.dumps({"events": _batch(i, size)}).encode() for i in range(batches)]
    ours_tenant, raw_tenant = bench_tenant("kpi-http"), bench_tenant("kpi-copy")
    _, token = api_token_create(tenant=ours_tenant, name="bench", actor=Actor.system("bench"))
    with serve_wsgi() as port:
        ours_seconds = post_batches(
            port=port, path="/api/governance/regression/kpi/batch", token=token, bodies=payloads
        )

    rows = [
        [
            (raw_tenant.pk, e["domain"], e["metric"], e["success"], None, None, e["actor"])
            for e in _batch(i, size)
        ]
        for i in range(batches)
    ]
    copy_sql = f"COPY {KPIEvent._meta.db_table} ({', '.join(COLUMNS)}) FROM STDIN"
    start = time.perf_counter()
    for batch in rows:
        now = timezone.now()
        with (
            transaction.atomic(),
            connection.cursor() as wrapper,
            wrapper.cursor.copy(copy_sql) as copy,
        ):
            for row in batch:
                copy.write_row((*row, now))
    raw_seconds = time.perf_counter() - start
    stored = KPIEvent.objects.filter(tenant__in=[ours_tenant, raw_tenant]).count()
    expected = (batches + 1) * size + batches * size
    if stored != expected:
        raise RuntimeError(f"stored {stored} events, expected {expected}")
    events = batches * size
    return [
        Figure(
            name="kpi_ingest events/s (HTTP batch endpoint, 1,000-event batches)",
            ours=events / ours_seconds,
            baseline=events / raw_seconds,
            unit="events/s",
            higher_is_better=True,
            baseline_label="psycopg COPY of the same rows, one transaction per batch",
            notes={"events": events, "batch": size},
        )
    ]


def _fill(tenant_id: int, start: int, stop: int, t0: dt.datetime) -> None:
    """Rows start..stop-1 spread over 20 (domain, metric) series, one second apart per row:
    the evaluated series holds 1/20 of the table."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {KPIEvent._meta.db_table}
                (tenant_id, domain, metric, success, value, event_id, actor, created_at)
            SELECT %s, 'D' || (g %% 4), 'm' || (g %% 5), (g %% 10) <> 0, NULL, NULL, '',
                   %s::timestamptz + g * interval '1 second'
            FROM generate_series(%s, %s) AS g
            """,
            [tenant_id, t0, start, stop - 1],
        )
        cursor.execute(f"ANALYZE {KPIEvent._meta.db_table}")


def _time(fn, repeat: int, before=None) -> float:
    """Mean seconds per call over ``repeat`` calls, best of three rounds; ``before`` runs
    untimed ahead of each call."""
    rounds = []
    for _ in range(3):
        total = 0.0
        for _ in range(repeat):
            if before is not None:
                before()
            start = time.perf_counter()
            fn()
            total += time.perf_counter() - start
        rounds.append(total / repeat)
    return min(rounds)


@benchmark("tripwire_eval")
def tripwire_eval(*, scale: float = 1.0) -> list[Figure]:
    """Each evaluation sees one new event (so it does its full work: window statistics, the
    state's compare-and-set update); the baseline reads the same two windows (the current
    window and the baseline before it) with plain SQL through a bare cursor."""
    require_postgres()
    small, large = int(100_000 * scale), int(2_000_000 * scale)
    tenant = bench_tenant("tripwire-eval")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    policy = RegressionPolicy.objects.create(
        tenant=tenant,
        domain="D1",
        metric="m1",
        enabled=True,
        window_events=50,
        baseline_events=200,
        max_drop_fraction=0.2,
    )
    RegressionState.objects.create(policy=policy)
    now = t0 + dt.timedelta(seconds=large + 1_000_000)
    table = KPIEvent._meta.db_table
    window_sql = kpi_window_sql(kind="success", with_since=False)
    current_sql = window_sql
    baseline_sql = window_sql.replace("LIMIT %s", "LIMIT %s OFFSET %s")
    repeat = 200
    tick = {"n": 0}

    def new_event() -> None:
        tick["n"] += 1
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, domain, metric, success, actor, created_at) "
                "VALUES (%s, 'D1', 'm1', true, '', %s)",
                [tenant.pk, t0 + dt.timedelta(seconds=large + tick["n"])],
            )

    def ours() -> None:
        state = regression_evaluate(policy=policy, now=now)
        assert state.status == "ok" and state.window_count == 50

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(current_sql, [tenant.pk, "D1", "m1", now, 50])
            cursor.fetchall()
            cursor.execute(baseline_sql, [tenant.pk, "D1", "m1", now, 200, 50])
            cursor.fetchall()

    def raw_one() -> None:
        with connection.cursor() as cursor:
            cursor.execute(window_sql, [tenant.pk, "D1", "m1", now, 250])
            cursor.fetchall()

    timings = {}
    _fill(tenant.pk, 0, small, t0)
    timings["ours_small"] = _time(ours, repeat, before=new_event)
    timings["raw_small"] = _time(raw, repeat)
    _fill(tenant.pk, small, large, t0)
    timings["ours_large"] = _time(ours, repeat, before=new_event)
    timings["raw_large"] = _time(raw, repeat)
    timings["raw_one_large"] = _time(raw_one, repeat)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + window_sql, [tenant.pk, "D1", "m1", now, 250])
        plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:2])
    connections.close_all()
    ms = 1000.0
    return [
        Figure(
            name=f"tripwire_eval at {large:,} rows vs at {small:,} rows",
            ours=timings["ours_large"] * ms,
            baseline=timings["ours_small"] * ms,
            unit="ms/evaluation",
            higher_is_better=False,
            baseline_label=f"the same evaluation at {small:,} rows",
            notes={"plan": plan},
        ),
        Figure(
            name=f"tripwire_eval at {large:,} rows vs raw SQL of the same windows",
            ours=timings["ours_large"] * ms,
            baseline=timings["raw_large"] * ms,
            unit="ms/evaluation",
            higher_is_better=False,
            baseline_label="the current and baseline windows read by plain SQL (bare cursor)",
            notes={
                "raw_small_ms": round(timings["raw_small"] * ms, 4),
                "raw_single_query_250_rows_ms": round(timings["raw_one_large"] * ms, 4),
            },
        ),
    ]
