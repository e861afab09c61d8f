"""`event_ingest`: learning events per second through the HTTP batch endpoint (a real HTTP
server in this process, 1,000-event batches over one keep-alive connection, token auth, JSON
parsing, one-pass validation, one COPY) against psycopg COPY of the same rows into the same
table.

`event_query`: a typed time-range query (``events_query``: type + time range, newest first,
limit 1,000, typed rows with decoded payloads) with 5,000,000 events in the table, against the same query as
raw SQL through a bare cursor. The rows are generated in the database with
``INSERT ... SELECT generate_series``."""

from __future__ import annotations

import datetime as dt
import json
import time

from django.db import connection, transaction
from psycopg.types.json import Jsonb

from governance.benchmarking import (
    Figure,
    bench_tenant,
    benchmark,
    best_of,
    post_batches,
    require_postgres,
    serve_wsgi,
)
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from learning.models import LearningEvent
from learning.services.events import events_query

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
COPY_COLUMNS = (
    "tenant_id",
    "event_type",
    "source_engine",
    "subject",
    "timestamp",
    "payload",
    "outcome",
    "confidence",
    "win",
    "event_id",
    "recorded_at",
)


def _batch(i: int, size: int) -> list[dict]:
    events = []
    for j in range(size):
        n = i * size + j
        confidence = 0.15 + (n % 80) / 100
        win = n % 3 != 0
        events.append(
            {
                "event_type": "SIGNAL_ACCURACY",
                "source_engine": "phase1_real_market_backtest",
                "symbol": ("AAPL", "MSFT", "NVDA", "SPY")[n % 4],
                "timestamp": (T0 + dt.timedelta(minutes=n)).isoformat(),
                "payload": {
                    "return_pct": 1.2 if win else -0.8,
                    "win": win,
                    "confidence_used": confidence,
                    "applied_threshold": 0.8,
                    "calibrated": False,
                },
                "outcome": 1.2 if win else -0.8,
            }
        )
    return events


@benchmark("event_ingest")
def event_ingest(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    size = 1000
    batches = max(5, int(50 * scale))
    payloads = [json.dumps({"events": _batch(i, size)}).encode() for i in range(batches)]
    ours_tenant, raw_tenant = bench_tenant("events-http"), bench_tenant("events-copy")
    _, token = api_token_create(tenant=ours_tenant, name="bench", actor=Actor.system("bench"))
    with serve_wsgi() as port:
        ours_seconds = post_batches(
            port=port, path="/api/learning/events/batch", token=token, bodies=payloads
        )

    # The baseline writes the same rows (typed columns already extracted) with a bare COPY.
    rows = [
        [
            (
                raw_tenant.pk,
                "signal_accuracy",
                e["source_engine"],
                e["symbol"],
                dt.datetime.fromisoformat(e["timestamp"]),
                e["payload"],
                e["outcome"],
                e["payload"]["confidence_used"],
                e["payload"]["win"],
                None,
            )
            for e in _batch(i, size)
        ]
        for i in range(batches)
    ]
    copy_sql = f"COPY {LearningEvent._meta.db_table} ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    start = time.perf_counter()
    for batch in rows:
        now = dt.datetime.now(dt.UTC)
        with (
            transaction.atomic(),
            connection.cursor() as wrapper,
            wrapper.cursor.copy(copy_sql) as copy,
        ):
            for row in batch:
                copy.write_row((*row[:5], Jsonb(row[5]), *row[6:], now))
    raw_seconds = time.perf_counter() - start
    stored = LearningEvent.objects.filter(tenant__in=[ours_tenant, raw_tenant]).count()
    expected = (batches + 1) * size + batches * size
    if stored != expected:
        raise RuntimeError(f"stored {stored} events, expected {expected}")
    events = batches * size
    return [
        Figure(
            name="event_ingest events/s (HTTP batch endpoint, 1,000-event batches)",
            ours=events / ours_seconds,
            baseline=events / raw_seconds,
            unit="events/s",
            higher_is_better=True,
            baseline_label="psycopg COPY of the same rows, one transaction per batch",
            notes={"events": events, "batches": batches, "acceptance": ">= 25% of COPY"},
        )
    ]


SEED_SQL = """
INSERT INTO learning_learningevent (tenant_id, event_type, source_engine, subject, "timestamp",
    payload, outcome, confidence, win, event_id, recorded_at)
SELECT %(tenant)s,
    (ARRAY['signal_generated', 'signal_accuracy', 'order_filled', 'position_closed',
           'model_prediction'])[1 + n %% 5],
    (ARRAY['phase1_real_market_backtest', 'live', 'paper'])[1 + n %% 3],
    (ARRAY['AAPL', 'MSFT', 'NVDA', 'SPY', 'TSLA', 'AMZN', 'META', 'GOOG'])[1 + n %% 8],
    %(t0)s::timestamptz + n * interval '10 seconds',
    '{"return_pct": 1.0, "win": true, "confidence_used": 0.8}'::jsonb,
    random() * 4 - 2, random(), random() < 0.5, NULL, now()
FROM generate_series(1, %(n)s) AS n
"""
RAW_QUERY = """
SELECT id, event_type, source_engine, subject, "timestamp", payload, outcome, confidence, win,
    event_id, recorded_at
FROM learning_learningevent
WHERE tenant_id = %s AND event_type = %s AND "timestamp" >= %s AND "timestamp" < %s
ORDER BY "timestamp" DESC, id DESC
LIMIT %s
"""


@benchmark("event_query")
def event_query(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    total = max(50_000, int(5_000_000 * scale))
    tenant = bench_tenant("events-query")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, {"tenant": tenant.pk, "t0": T0, "n": total})
        cursor.execute("ANALYZE learning_learningevent")
    seed_seconds = time.perf_counter() - start
    # A month in the middle of the data: many matching rows, the newest 1,000 returned.
    window_start = T0 + dt.timedelta(seconds=10 * total // 2)
    window_end = window_start + dt.timedelta(days=30)
    limit = 1000

    def ours() -> None:
        rows = list(
            events_query(
                tenant_id=tenant.pk,
                event_type="SIGNAL_ACCURACY",
                start=window_start,
                end=window_end,
                limit=limit,
            )
        )
        if len(rows) != limit:
            raise RuntimeError(f"query returned {len(rows)} rows")

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                RAW_QUERY, [tenant.pk, "signal_accuracy", window_start, window_end, limit]
            )
            if len(cursor.fetchall()) != limit:
                raise RuntimeError("raw query returned too few rows")

    ours()
    raw()
    # Interleaved rounds, so a busy moment of the machine hits both sides alike.
    rounds = [(best_of(ours, repeat=1), best_of(raw, repeat=1)) for _ in range(11)]
    ours_seconds = min(r[0] for r in rounds)
    raw_seconds = min(r[1] for r in rounds)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN " + RAW_QUERY, [tenant.pk, "signal_accuracy", window_start, window_end, limit]
        )
        plan = [line[0] for line in cursor.fetchall()]
    return [
        Figure(
            name=f"event_query ms (type + 30-day range, newest {limit}, {total:,} events)",
            ours=ours_seconds * 1000,
            baseline=raw_seconds * 1000,
            unit="ms",
            higher_is_better=False,
            baseline_label="the same query as raw SQL through a bare cursor",
            notes={
                "events_in_table": total,
                "seed_seconds": round(seed_seconds, 1),
                "plan": plan[:4],
                "acceptance": "within 2x of raw SQL",
            },
        )
    ]
