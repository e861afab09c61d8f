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
    errors: dict[str, dict[str, list[str]]] = {}
    cleaned: list[dict[str, Any]] = []
    _validator_for(spec)(items, check, errors, cleaned)
    if errors:
        raise ValidationFailed({key: errors})
    return cleaned


_VALIDATORS: dict[int, tuple[Mapping[str, Field], Callable[..., None]]] = {}


def _validator_for(spec: Mapping[str, Field]) -> Callable[..., None]:
    cached = _VALIDATORS.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = (spec, _generate_validator(spec))
        _VALIDATORS[id(spec)] = cached
    return cached[1]


def _fast_test(field: Field, i: int) -> str | None:
    """An inline expression accepting the common valid value of field ``i`` (``v``); a value
    it does not accept goes to the field's full checker, which also words the error."""
    bounds = ""
    if field.min is not None:
        bounds += f" and v >= MIN{i}"
    if field.max is not None:
        bounds += f" and v <= MAX{i}"
    choices = f" and v in CHOICES{i}" if field.choices is not None else ""
    if field.type == "str":
        length = f" and len(v) <= {field.max_length}" if field.max_length is not None else ""
        return f"type(v) is str and v{length}{choices}"
    if field.type == "bool":
        return "type(v) is bool"
    if field.type == "int":
        return f"type(v) is int{bounds}{choices}"
    if field.type == "float":
        return f"type(v) is float and isfinite(v){bounds}{choices}"
    return None


def _generate_validator(spec: Mapping[str, Field]) -> Callable[..., None]:
    """Compile the spec into one loop with the field checks inlined: a generic per-field
    function call per value costs more than the checks themselves at 10,000 rows."""
    names = list(spec)
    namespace: dict[str, Any] = {
        "ALLOWED": frozenset(names),
        "isfinite": math.isfinite,
        "sorted": sorted,
    }
    lines = [
        "def validate(items, check, errors, cleaned):",
        "    for index, item in enumerate(items):",
        "        if type(item) is not dict:",
        "            errors[str(index)] = {'non_field_errors': ['must be an object']}",
        "            continue",
        "        row_errors = None",
        "        if not ALLOWED.issuperset(item):",
        "            row_errors = {n: ['unknown field'] for n in sorted(set(item) - ALLOWED)}",
    ]
    for i, (name, field) in enumerate(spec.items()):
        namespace[f"CHECK{i}"] = _compile(field)
        namespace[f"DEFAULT{i}"] = field.default
        namespace[f"MIN{i}"], namespace[f"MAX{i}"] = field.min, field.max
        namespace[f"CHOICES{i}"] = frozenset(field.choices) if field.choices is not None else None
        missing = (
            f"            row_errors = row_errors or {{}}\n"
            f"            row_errors[{name!r}] = ['this field is required']\n"
            if field.required
            else ""
        )
        fast = _fast_test(field, i)
        lines.append(f"        v = item.get({name!r})")
        lines.append("        if v is None:")
        lines.append(f"{missing}            f{i} = DEFAULT{i}")
        if fast is not None:
            lines.append(f"        elif {fast}:")
            lines.append(f"            f{i} = v")
        lines.append("        else:")
        lines.append(f"            f{i}, error = CHECK{i}(v)")
        lines.append("            if error is not None:")
        lines.append("                row_errors = row_errors or {}")
        lines.append(f"                row_errors[{name!r}] = [error]")
    fields = ", ".join(f"{name!r}: f{i}" for i, name in enumerate(names))
    lines += [
        f"        row = {{{fields}}}",
        "        if row_errors is None and check is not None:",
        "            row_errors = check(row) or None",
        "        if row_errors:",
        "            errors[str(index)] = dict(row_errors)",
        "        else:",
        "            cleaned.append(row)",
    ]
    # The code is built from the spec (a module constant), never from request input.
    exec("\n".join(lines), namespace)
    return namespace["validate"]


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
