"""Use cases of learning events (seed 004): ingestion (single and batch, all or nothing, one
statement), queries and stats, collection settings, retention, the training sample source,
and the confidence-filter report."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import psycopg
from django.db import DataError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calibration.services.registry import (
    REGISTRY_CONFIG_FIELDS,
    calibrator_apply,
    registry_config_update,
    registry_config_values,
    registry_stats,
)
from governance.errors import ValidationFailed
from governance.ingest import Field, IngestResult, bulk_insert, validate_rows
from governance.kernel.settings import SettingsOutcome
from governance.models import SettingsChange, Tenant
from governance.services.ledger import Actor, ledger_append
from governance.services.settings import (
    row_values,
    settings_upsert,
    tenant_config_writer,
    validate_row,
)
from learning.models import EventType, LearningEngineConfig, LearningEvent, family_of

MAX_BATCH = 10_000
MAX_PAYLOAD_KEYS = 64
DEFAULT_QUERY_LIMIT = 100
STATS_KEYS = (
    "events_buffered",
    "events_by_type",
    "training_jobs",
    "model_versions",
    "production_models",
    "evaluations",
    "drift_alerts",
)
ENGINE_FIELDS = (
    "engine_id",
    "engine_name",
    "max_events_memory",
    "collect_signals",
    "collect_executions",
    "collect_portfolio",
    "collect_risk",
    "collect_predictions",
    "retention_days",
)
REPORT_SOURCE = "confidence_filter_report"

_TYPE_CHOICES = (*EventType.values, *(value.upper() for value in EventType.values))
EVENT_SPEC = {
    "event_type": Field("str", required=True, choices=_TYPE_CHOICES),
    "source_engine": Field("str", required=True, max_length=100),
    "subject": Field("str", max_length=64, default=""),
    "symbol": Field("str", max_length=64, default=""),
    "timestamp": Field("datetime"),
    "payload": Field("json", default=None),
    "outcome": Field("float", min=-1e12, max=1e12),
    "event_id": Field("str", max_length=64),
}


# --- settings -------------------------------------------------------------------------------


def learning_config_for(*, tenant: Tenant | int) -> LearningEngineConfig:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    config, _ = LearningEngineConfig.objects.get_or_create(tenant_id=tenant_id)
    return config


def learning_config_values(*, tenant: Tenant | int) -> dict[str, Any]:
    """The seed's whole ``LearningEngineConfig``: collection and storage settings from
    learning, training, evaluation and drift settings from the calibrator registry."""
    config = learning_config_for(tenant=tenant)
    return {
        **{name: getattr(config, name) for name in ENGINE_FIELDS},
        **registry_config_values(tenant=tenant),
    }


def learning_config_read(tenant_id: int, target: str) -> dict[str, Any]:
    row = LearningEngineConfig.objects.filter(tenant_id=tenant_id).first()
    return row_values(LearningEngineConfig, row, ENGINE_FIELDS)


def learning_config_validate(
    tenant_id: int, target: str, values: dict[str, Any]
) -> dict[str, list[str]]:
    return validate_row(LearningEngineConfig, lookup={"tenant_id": tenant_id}, values=values)


learning_config_write = tenant_config_writer(LearningEngineConfig)


@transaction.atomic
def learning_config_engine_update(
    *,
    tenant: Tenant | int,
    actor: Actor,
    changes: dict[str, Any],
    reason: str = "",
    now: dt.datetime | None = None,
) -> SettingsOutcome:
    """Change the collection and storage settings (``learning.settings_kinds`` says which
    direction of each loosens)."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return settings_upsert(
        tenant=tenant_id,
        setting="learning_config",
        target="engine",
        values=dict(changes),
        actor=actor,
        reason=reason,
        find=lambda: LearningEngineConfig.objects.filter(tenant_id=tenant_id).first(),
        now=now,
    )


@dataclass(frozen=True)
class LearningConfigOutcome:
    """The whole config as it is now, and the change requests still waiting for a second
    reviewer (a change that loosens collection, retention or the calibrator registry)."""

    values: dict[str, Any]
    pending: list[SettingsChange]


@transaction.atomic
def learning_config_update(
    *,
    tenant: Tenant | int,
    actor: Actor,
    changes: dict[str, Any],
    reason: str = "",
    now: dt.datetime | None = None,
) -> LearningConfigOutcome:
    """Change the seed's LearningEngineConfig. Its collection and storage half and the
    calibrator registry half are two safety settings, each governed like a config: each half
    applies at once when it only tightens, and is a change request when it loosens."""
    unknown = sorted(set(changes) - set(ENGINE_FIELDS) - set(REGISTRY_CONFIG_FIELDS))
    if unknown:
        raise ValidationFailed({name: ["unknown field"] for name in unknown})
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    engine = {k: v for k, v in changes.items() if k in ENGINE_FIELDS}
    registry = {k: v for k, v in changes.items() if k in REGISTRY_CONFIG_FIELDS}
    outcomes = []
    if engine:
        outcomes.append(
            learning_config_engine_update(
                tenant=tenant_id, actor=actor, changes=engine, reason=reason, now=now
            )
        )
    if registry:
        outcomes.append(
            registry_config_update(
                tenant=tenant_id, actor=actor, changes=registry, reason=reason, now=now
            )
        )
    return LearningConfigOutcome(
        values=learning_config_values(tenant=tenant_id),
        pending=[outcome.change for outcome in outcomes if outcome.change is not None],
    )


# --- ingestion ------------------------------------------------------------------------------


def _confidence_of(payload: dict[str, Any]) -> Any:
    value = payload.get("confidence_used")
    return payload.get("confidence") if value is None else value


def _event_checker(config: LearningEngineConfig):
    def check(row: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        event_type = row["event_type"].lower()
        if not config.collects(event_type):
            switch = family_of(event_type)
            errors["event_type"] = [
                f"{event_type} events are not collected for this tenant ({switch} is off)"
            ]
        payload = row["payload"]
        if payload is None:
            payload = row["payload"] = {}
        if type(payload) is not dict:
            errors["payload"] = ["must be an object"]
            return errors
        if len(payload) > MAX_PAYLOAD_KEYS:
            errors["payload"] = [f"at most {MAX_PAYLOAD_KEYS} keys"]
        confidence = _confidence_of(payload)
        if confidence is not None and (
            type(confidence) not in (int, float) or not 0 <= confidence <= 1
        ):
            errors["payload"] = ["confidence / confidence_used must be a number in [0, 1]"]
        win = payload.get("win")
        if win is not None and type(win) is not bool:
            errors["payload"] = ["win must be a boolean"]
        for name in ("source_engine", "subject", "symbol", "event_id"):
            if row[name] and "\x00" in row[name]:
                errors[name] = ["must not contain NUL characters"]
        if row["subject"] and row["symbol"] and row["subject"] != row["symbol"]:
            errors["symbol"] = ["subject and symbol name the same thing: give one"]
        return errors

    return check


def _to_row(row: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    payload = row["payload"]
    confidence = _confidence_of(payload)
    win = payload.get("win")
    outcome = row["outcome"]
    if win is None and outcome is not None and row["event_type"] == EventType.SIGNAL_ACCURACY:
        win = outcome > 0
    return {
        "event_type": row["event_type"],
        "source_engine": row["source_engine"],
        "subject": row["subject"] or row["symbol"] or "",
        "timestamp": row["timestamp"] or now,
        "payload": payload,
        "outcome": outcome,
        "confidence": None if confidence is None else float(confidence),
        "win": win,
        "event_id": row["event_id"],
    }


def events_validate(
    *, tenant: Tenant | int, items: Any, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Validate a batch in one pass: rows ready to write, or every error at once."""
    now = now or timezone.now()
    config = learning_config_for(tenant=tenant)
    rows = validate_rows(items, EVENT_SPEC, max_rows=MAX_BATCH, check=_event_checker(config))
    for row in rows:
        row["event_type"] = row["event_type"].lower()
    return [_to_row(row, now) for row in rows]


@transaction.atomic
def events_record(
    *, tenant: Tenant | int, items: Any, now: dt.datetime | None = None
) -> IngestResult:
    """Record up to 10,000 events in one statement; a repeated ``event_id`` is stored once.
    One bad event rejects the batch and names its index and field."""
    now = now or timezone.now()
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    rows = events_validate(tenant=tenant_id, items=items, now=now)
    try:
        with transaction.atomic():
            return bulk_insert(
                LearningEvent,
                rows,
                constants={"tenant_id": tenant_id, "recorded_at": now},
                dedupe=("tenant_id", "event_id"),
            )
    except (DataError, psycopg.DataError) as exc:
        # What validation cannot see cheaply (a NUL character inside a payload, which
        # PostgreSQL's jsonb refuses) is still a 400, and the batch stores nothing.
        raise ValidationFailed(
            {"events": [f"the database refused a value of this batch: {exc}".strip()]}
        ) from exc


# --- queries and stats ----------------------------------------------------------------------


class EventRow(NamedTuple):
    """One event as a query returns it (a typed row, not a model instance)."""

    id: int
    event_type: str
    source_engine: str
    subject: str
    timestamp: dt.datetime
    payload: dict[str, Any]
    outcome: float | None
    confidence: float | None
    win: bool | None
    event_id: str | None
    recorded_at: dt.datetime


_ROW_FIELDS = EventRow._fields
_PAYLOAD_INDEX = _ROW_FIELDS.index("payload")


def events_query(
    *,
    tenant_id: int,
    event_type: str | None = None,
    source_engine: str | None = None,
    subject: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = DEFAULT_QUERY_LIMIT,
    ascending: bool = False,
) -> list[EventRow]:
    """Events of a tenant, newest first (or oldest first), at most ``limit`` (capped by the
    tenant's ``max_events_memory``). ``start`` is inclusive, ``end`` exclusive. Each filter
    combination is served by a (tenant, ..., timestamp) index, so the cost follows the
    result, not the table."""
    cap = learning_config_for(tenant=tenant_id).max_events_memory
    queryset = LearningEvent.objects.filter(tenant_id=tenant_id)
    if event_type:
        queryset = queryset.filter(event_type=event_type.lower())
    if source_engine:
        queryset = queryset.filter(source_engine=source_engine)
    if subject:
        queryset = queryset.filter(subject=subject)
    if start:
        queryset = queryset.filter(timestamp__gte=start)
    if end:
        queryset = queryset.filter(timestamp__lt=end)
    order = ("timestamp", "id") if ascending else ("-timestamp", "-id")
    rows = queryset.order_by(*order).values_list(*_ROW_FIELDS)[: max(1, min(limit, cap))]
    if connection.vendor != "postgresql":
        return [EventRow._make(row) for row in rows]
    # On PostgreSQL the ORM's SQL runs on a bare cursor: psycopg already returns aware
    # datetimes and typed numbers, and Django hands jsonb over as text, so one json.loads
    # per row replaces a model instance and the JSONField converter (half the cost of a
    # 1,000-row page).
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    loads = json.loads
    i = _PAYLOAD_INDEX
    return [
        EventRow._make((*row[:i], loads(row[i]) if row[i] is not None else {}, *row[i + 1 :]))
        for row in fetched
    ]


def learning_stats(*, tenant_id: int) -> dict[str, Any]:
    """Exactly the seed's keys. ``events_by_type`` lists the types that have events."""
    by_type = dict(
        LearningEvent.objects.filter(tenant_id=tenant_id)
        .values_list("event_type")
        .annotate(n=Count("pk"))
        .order_by("event_type")
    )
    registry = registry_stats(tenant_id=tenant_id)
    stats = {
        "events_buffered": sum(by_type.values()),
        "events_by_type": by_type,
        **{key: registry.get(key, 0) for key in STATS_KEYS[2:]},
    }
    return {key: stats[key] for key in STATS_KEYS}


# --- retention ------------------------------------------------------------------------------


def learning_events_prune(*, now: dt.datetime | None = None, chunk: int = 50_000) -> dict[int, int]:
    """Delete events recorded longer ago than each tenant's retention: set-based DELETEs in
    chunks (short transactions on a big table), one ledger entry per tenant that lost rows.
    Running it twice deletes nothing more."""
    now = now or timezone.now()
    pruned: dict[int, int] = {}
    configs = LearningEngineConfig.objects.filter(retention_days__isnull=False)
    for tenant_id, days in configs.values_list("tenant_id", "retention_days"):
        cutoff = now - dt.timedelta(days=days)
        expired = LearningEvent.objects.filter(tenant_id=tenant_id, recorded_at__lt=cutoff)
        total = 0
        while True:
            with transaction.atomic():
                ids = expired.order_by().values("pk")[:chunk]
                deleted, _ = LearningEvent.objects.filter(pk__in=ids).delete()
            total += deleted
            if deleted < chunk:
                break
        if total:
            pruned[tenant_id] = total
            ledger_append(
                tenant=tenant_id,
                kind="learning.events_pruned",
                actor=Actor.system("retention"),
                payload={"deleted": total, "recorded_before": cutoff, "retention_days": days},
                now=now,
            )
    return pruned


# --- bulk reads for training and reports ----------------------------------------------------

_COLUMN_TYPES = {"confidence": ">f8", "outcome": ">f8", "win": "u1"}


def _as_db_datetime(value: str | dt.datetime) -> Any:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if moment is None:
        raise ValidationFailed({"sample_filter": [f"{value!r} is not an ISO 8601 date-time"]})
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # The backend's own format (SQLite compares datetimes as text).
    return connection.ops.adapt_datetimefield_value(moment)


def _pairs_where(tenant_id: int, filters: dict[str, Any], columns: tuple[str, ...]):
    clauses = ['"tenant_id" = %s', '"event_type" = %s']
    params: list[Any] = [tenant_id, EventType.SIGNAL_ACCURACY.value]
    clauses += [f'"{column}" IS NOT NULL' for column in columns]
    for key, column, op in (
        ("source_engine", "source_engine", "="),
        ("subject", "subject", "="),
        ("since", "timestamp", ">="),
        ("until", "timestamp", "<"),
    ):
        value = filters.get(key)
        if value:
            if column == "timestamp":
                value = _as_db_datetime(value)
            clauses.append(f'"{column}" {op} %s')
            params.append(value)
    return " AND ".join(clauses), params


def signal_columns(
    *, tenant_id: int, filters: dict[str, Any], columns: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Columns of the tenant's SIGNAL_ACCURACY events (rows where all are present) as numpy
    arrays. On PostgreSQL one ``COPY ... TO STDOUT (FORMAT BINARY)`` whose fixed-width rows
    numpy reads in place: no Python object per row, for a million rows."""
    where, params = _pairs_where(tenant_id, filters, columns)
    table = LearningEvent._meta.db_table
    select = ", ".join(f'"{c}"' for c in columns)
    query = f'SELECT {select} FROM "{table}" WHERE {where}'
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            data = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, len(columns))
        return {name: data[:, i] for i, name in enumerate(columns)}
    statement = f"COPY ({query}) TO STDOUT (FORMAT BINARY)"
    with connection.cursor() as wrapper, wrapper.cursor.copy(statement, params) as copy:
        raw = b"".join(bytes(block) for block in copy)
    return _parse_binary_copy(raw, columns)


def _parse_binary_copy(raw: bytes, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    # Header: 11-byte signature, int32 flags, int32 extension length (+ extension).
    extension = int.from_bytes(raw[15:19], "big")
    body = memoryview(raw)[19 + extension : len(raw) - 2]  # minus the int16 -1 trailer
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for name in columns:
        fields += [(f"{name}_len", ">i4"), (name, _COLUMN_TYPES[name])]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    return {name: rows[name].astype(np.float64) for name in columns}


def signal_accuracy_pairs(
    *, tenant_id: int, filters: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The calibrator registry's ``signal_accuracy`` sample source: (confidence, win)."""
    data = signal_columns(tenant_id=tenant_id, filters=filters, columns=("confidence", "win"))
    return data["confidence"], data["win"].astype(np.int8)


# --- the confidence-filter report -----------------------------------------------------------


def performance(returns: np.ndarray, wins: np.ndarray) -> dict[str, Any]:
    """Win rate, per-trade Sharpe ratio (mean / sample std of returns, not annualised) and
    profit factor (gross profit / gross loss; None without losses) of a set of trades."""
    trades = len(returns)
    if trades == 0:
        return {
            "trades": 0,
            "win_rate": None,
            "avg_return": None,
            "total_return": 0.0,
            "sharpe_ratio": None,
            "profit_factor": None,
        }
    std = float(np.std(returns, ddof=1)) if trades > 1 else 0.0
    gross_profit = float(returns[returns > 0].sum())
    gross_loss = float(-returns[returns < 0].sum())
    return {
        "trades": trades,
        "win_rate": float(np.mean(wins)),
        "avg_return": float(np.mean(returns)),
        "total_return": float(np.sum(returns)),
        "sharpe_ratio": float(np.mean(returns)) / std if std > 0 else None,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else None,
    }


def _change(after: float | None, before: float | None, scale: float = 1.0) -> float | None:
    if after is None or before is None:
        return None
    value = (after - before) * scale
    return value if math.isfinite(value) else None


@transaction.atomic
def confidence_filter_report(
    *,
    tenant: Tenant,
    threshold: float,
    actor: Actor,
    use_calibration: bool = False,
    model_name: str = "confidence_calibrator",
    source_engine: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The seed's phase 1 analysis: all signals (baseline) against the signals whose
    confidence (raw, or calibrated by the model's PRODUCTION calibrator) is at least the
    threshold (filtered). Recorded as a METRIC_RECORDED event and on the ledger.
    ``win_rate_change_pct`` is in percentage points."""
    now = now or timezone.now()
    if not 0 <= threshold <= 1:
        raise ValidationFailed({"threshold": ["must be in [0, 1]"]})
    filters = {
        "source_engine": source_engine,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    data = signal_columns(
        tenant_id=tenant.pk, filters=filters, columns=("confidence", "win", "outcome")
    )
    confidences = data["confidence"]
    calibrator = None
    if use_calibration:
        version, confidences = calibrator_apply(
            tenant_id=tenant.pk, model_name=model_name, confidences=confidences
        )
        calibrator = {"model": model_name, "version": version.number, "method": version.method}
    returns, wins = data["outcome"], data["win"]
    passed = confidences >= threshold
    baseline = performance(returns, wins)
    filtered = performance(returns[passed], wins[passed])
    report = {
        "baseline": baseline,
        "filtered": filtered,
        "improvement": {
            "win_rate_change_pct": _change(filtered["win_rate"], baseline["win_rate"], 100.0),
            "sharpe_ratio_change": _change(filtered["sharpe_ratio"], baseline["sharpe_ratio"]),
            "profit_factor_change": _change(filtered["profit_factor"], baseline["profit_factor"]),
        },
        "applied_threshold": float(threshold),
        "confidence_key": "calibrated_confidence" if use_calibration else "confidence_used",
        "use_calibration": use_calibration,
        "calibrator": calibrator,
        "rejected_trades": int(len(returns) - passed.sum()),
        "source_engine": source_engine,
    }
    result = events_record(
        tenant=tenant,
        items=[
            {
                "event_type": EventType.METRIC_RECORDED.value,
                "source_engine": source_engine or REPORT_SOURCE,
                "timestamp": now,
                "payload": report,
            }
        ],
        now=now,
    )
    ledger_append(
        tenant=tenant,
        kind="learning.confidence_filter_report",
        actor=actor,
        payload={
            "threshold": threshold,
            "use_calibration": use_calibration,
            "calibrator": calibrator,
            "trades": baseline["trades"],
            "filtered_trades": filtered["trades"],
            "improvement": report["improvement"],
            "recorded": result.stored,
        },
        now=now,
    )
    return report
