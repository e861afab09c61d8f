"""Fast, all-or-nothing batch ingestion of event rows (KPI events, learning events, ...).

Two steps, each one pass over the batch:

1. ``validate_rows(items, spec, ...)`` checks a list of dicts against a compact field spec and
   returns cleaned rows (every spec field present, defaults filled in). Unknown fields are
   rejected. Every error of the batch is collected, keyed by index and field, and raised at
   once as ``ValidationFailed({"events": {"3": {"success": ["must be a boolean"]}}})``: one
   bad row rejects the whole batch (nothing is written).

2. ``bulk_insert(model, rows, constants=..., dedupe=...)`` writes the cleaned rows in one
   statement and returns ``IngestResult(received, stored, duplicates)``:

   - PostgreSQL: ``COPY`` straight into the table (psycopg ``cursor.copy``) when no row
     carries a de-duplication key; otherwise ``COPY`` into a temporary table and one
     ``INSERT ... SELECT ... ON CONFLICT (<dedupe columns>) WHERE <key> IS NOT NULL DO
     NOTHING``, so a repeated client ``event_id`` is not stored twice (the model declares a
     partial unique index on the same columns with the same condition).
   - Other databases (SQLite): ``bulk_create(ignore_conflicts=True)``.

   Call it inside ``transaction.atomic`` (the temporary table lives until commit).

Field spec::

    SPEC = {
        "domain": Field("str", required=True, max_length=64),
        "success": Field("bool"),
        "value": Field("float", min=-1e12, max=1e12),
        "kind": Field("str", choices=("a", "b"), default="a"),
        "created_at": Field("datetime"),           # ISO 8601, aware; naive means UTC
        "event_id": Field("str", max_length=64),
    }
    rows = validate_rows(payload, SPEC, max_rows=10_000,
                         check=lambda row: {} if ok else {"value": ["..."]})

Types: ``str``, ``int``, ``float`` (ints accepted), ``bool`` (JSON booleans only),
``datetime`` (ISO 8601 string or aware ``datetime``), ``json`` (any JSON value). ``None`` is
accepted for an optional field (stored as the default). ``check`` runs on each row that passed
its field checks and returns cross-field errors (``{field: [messages]}``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.utils.dateparse import parse_datetime

from governance.errors import ValidationFailed

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Field:
    type: str
    required: bool = False
    choices: Sequence[Any] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    default: Any = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    stored: int

    @property
    def duplicates(self) -> int:
        return self.received - self.stored

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "stored": self.stored, "duplicates": self.duplicates}


Checker = Callable[[Any], tuple[Any, str | None]]


def _bounds(spec: Field, number: float) -> str | None:
    if spec.min is not None and number < spec.min:
        return f"must be at least {spec.min}"
    if spec.max is not None and number > spec.max:
        return f"must be at most {spec.max}"
    return None


def _compile(spec: Field) -> Checker:
    """One small function per field: (value) -> (clean value, error or None)."""
    choices = frozenset(spec.choices) if spec.choices is not None else None

    if spec.type == "str":

        def check(value):
            if type(value) is not str:
                return None, "must be a string"
            if spec.max_length is not None and len(value) > spec.max_length:
                return None, f"at most {spec.max_length} characters"
            if choices is not None and value not in choices:
                return None, f"must be one of {sorted(choices)}"
            if not value:
                return None, "must not be blank"
            return value, None

    elif spec.type == "bool":

        def check(value):
            if type(value) is not bool:
                return None, "must be a boolean"
            return value, None

    elif spec.type in ("int", "float"):
        integral = spec.type == "int"

        def check(value):
            kind = type(value)
            if kind is bool or kind not in ((int,) if integral else (int, float)):
                return None, "must be an integer" if integral else "must be a number"
            if kind is float and not math.isfinite(value):
                return None, "must be a finite number"
            error = _bounds(spec, value)
            if error:
                return None, error
            if choices is not None and value not in choices:
                return None, f"must be one of {sorted(choices)}"
            return (value if integral else float(value)), None

    elif spec.type == "datetime":

        def check(value):
            if isinstance(value, dt.datetime):
                moment = value
            elif type(value) is str:
                try:
                    moment = parse_datetime(value)
                except ValueError:
                    moment = None
                if moment is None:
                    return None, "must be an ISO 8601 date-time"
            else:
                return None, "must be an ISO 8601 date-time"
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return moment, None

    elif spec.type == "json":

        def check(value):
            return value, None

    else:
        raise ValueError(f"unknown field type {spec.type!r}")
    return check


def validate_rows(
    items: Any,
    spec: Mapping[str, Field],
    *,
    max_rows: int = 10_000,
    key: str = "events",
    check: Callable[[dict[str, Any]], Mapping[str, list[str]]] | None = None,
) -> list[dict[str, Any]]:
    """Validate a batch in one pass; return cleaned rows or raise with every error."""
    if not isinstance(items, list):
        raise ValidationFailed({key: ["must be a list of objects"]})
    if not items:
        raise ValidationFailed({key: ["must not be empty"]})
    if len(items) > max_rows:
        raise ValidationFailed({key: [f"at most {max_rows} items per batch"]})
    checkers = [(name, field, _compile(field)) for name, field in spec.items()]
    allowed = frozenset(spec)
    errors: dict[str, dict[str, list[str]]] = {}
    cleaned: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            errors[str(index)] = {"non_field_errors": ["must be an object"]}
            continue
        row: dict[str, Any] = {}
        row_errors: dict[str, list[str]] = {}
        if not allowed.issuperset(item):
            for name in sorted(set(item) - allowed):
                row_errors[name] = ["unknown field"]
        for name, field, checker in checkers:
            value = item.get(name, _MISSING)
            if value is _MISSING or value is None:
                if field.required:
                    row_errors[name] = ["this field is required"]
                row[name] = field.default
                continue
            clean, error = checker(value)
            if error is not None:
                row_errors[name] = [error]
            else:
                row[name] = clean
        if not row_errors and check is not None:
            row_errors = dict(check(row))
        if row_errors:
            errors[str(index)] = row_errors
        else:
            cleaned.append(row)
    if errors:
        raise ValidationFailed({key: errors})
    return cleaned


def _columns(model: type[models.Model], names: Iterable[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


def bulk_insert(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    dedupe: Sequence[str] | None = None,
) -> IngestResult:
    """Write cleaned rows (plus ``constants`` on each, e.g. tenant and created_at) in one
    statement. ``dedupe`` names the unique columns, the last of which is the optional client
    key (``("tenant", "event_id")``): a row whose key already exists (in the table or earlier
    in the batch) is skipped."""
    constants = dict(constants or {})
    if not rows:
        return IngestResult(received=0, stored=0)
    received = len(rows)
    key = dedupe[-1] if dedupe else None
    if key is not None:
        rows = _drop_batch_duplicates(rows, key)
    names = list(rows[0]) + [n for n in constants if n not in rows[0]]
    if connection.vendor == "postgresql":
        has_keys = key is not None and any(row[key] is not None for row in rows)
        stored = _copy_rows(model, rows, names, constants, dedupe if has_keys else None)
    else:
        stored = _bulk_create_rows(model, rows, constants, dedupe)
    return IngestResult(received=received, stored=stored)


def _drop_batch_duplicates(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: set[Any] = set()
    kept = []
    for row in rows:
        value = row[key]
        if value is not None:
            if value in seen:
                continue
            seen.add(value)
        kept.append(row)
    return kept


def _copy_rows(model, rows, names, constants, dedupe) -> int:
    table = model._meta.db_table
    columns = ", ".join(f'"{c}"' for c in _columns(model, names))
    ordered = [n for n in names if n not in constants]
    fixed = tuple(constants[n] for n in names if n in constants)
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor under Django's wrapper
        if dedupe is None:
            target = f'"{table}"'
        else:
            target = f'"_ingest_{table}"'
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DROP AS "
                f'SELECT {columns} FROM "{table}" WITH NO DATA'
            )
        # JSON columns need psycopg's Jsonb wrapper (a dict has no COPY dumper of its own).
        json_names = {n for n in ordered if isinstance(model._meta.get_field(n), models.JSONField)}
        with cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            write = copy.write_row
            if json_names:
                from psycopg.types.json import Jsonb

                for row in rows:
                    write(
                        tuple(
                            Jsonb(row[n]) if n in json_names and row[n] is not None else row[n]
                            for n in ordered
                        )
                        + fixed
                    )
            else:
                for row in rows:
                    write(tuple(row[n] for n in ordered) + fixed)
        if dedupe is None:
            return len(rows)
        conflict = ", ".join(f'"{c}"' for c in _columns(model, dedupe))
        key_column = _columns(model, dedupe[-1:])[0]
        cursor.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM {target} '
            f'ON CONFLICT ({conflict}) WHERE "{key_column}" IS NOT NULL DO NOTHING'
        )
        stored = cursor.rowcount
        cursor.execute(f"DROP TABLE {target}")
        return stored


def _bulk_create_rows(model, rows, constants, dedupe) -> int:
    existing = 0
    if dedupe:
        key = dedupe[-1]
        keys = [row[key] for row in rows if row[key] is not None]
        if keys:
            scope = {n: constants[n] for n in dedupe[:-1] if n in constants}
            existing = model._default_manager.filter(**scope, **{f"{key}__in": keys}).count()
    objects = [model(**row, **constants) for row in rows]
    model._default_manager.bulk_create(objects, batch_size=500, ignore_conflicts=bool(dedupe))
    return len(rows) - existing
