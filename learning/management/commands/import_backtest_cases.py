"""Import backtest cases from JSON or CSV, all or nothing.

JSON: a list of case objects (or ``{"cases": [...]}``) with ``case_id``, ``features``,
``expected_decision`` and optionally ``expected_flags``, ``expected_escalate``, ``protected``,
``description``.

CSV: one case per row with the columns ``case_id``, ``expected_decision`` and optionally
``expected_flags`` (separated by ``;``), ``expected_escalate`` (true/false/empty),
``protected`` (true/false), ``description``; every other column is a feature (an empty cell
is a missing feature).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from governance.errors import ValidationFailed
from governance.models import Tenant
from governance.services.ledger import Actor
from learning.services.loop import backtest_cases_import

KNOWN_COLUMNS = {
    "case_id",
    "expected_decision",
    "expected_flags",
    "expected_escalate",
    "protected",
    "description",
}
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _bool_cell(value: str, *, row: int, column: str, nullable: bool) -> bool | None:
    lowered = (value or "").strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    if lowered == "" and nullable:
        return None
    if lowered == "":
        return False
    raise CommandError(f"row {row}: {column} must be true or false, not {value!r}")


def read_csv(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            features = {}
            for column, cell in row.items():
                if column in KNOWN_COLUMNS or column is None or cell is None or cell.strip() == "":
                    continue
                try:
                    features[column] = float(cell)
                except ValueError as exc:
                    raise CommandError(
                        f"row {row_number}: feature {column} is not a number: {cell!r}"
                    ) from exc
            records.append(
                {
                    "case_id": (row.get("case_id") or "").strip(),
                    "features": features,
                    "expected_decision": (row.get("expected_decision") or "").strip(),
                    "expected_flags": [
                        f.strip() for f in (row.get("expected_flags") or "").split(";") if f.strip()
                    ],
                    "expected_escalate": _bool_cell(
                        row.get("expected_escalate", ""),
                        row=row_number,
                        column="expected_escalate",
                        nullable=True,
                    ),
                    "protected": _bool_cell(
                        row.get("protected", ""), row=row_number, column="protected", nullable=False
                    ),
                    "description": (row.get("description") or "").strip(),
                }
            )
    return records


def read_json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CommandError(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("cases")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CommandError('expected a list of case objects (or {"cases": [...]})')
    return data


class Command(BaseCommand):
    help = "Import backtest cases (JSON or CSV) for a tenant; all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--format", choices=["json", "csv"], help="default: by extension")
        parser.add_argument(
            "--update", action="store_true", help="update cases whose case_id already exists"
        )

    def handle(self, *args, path, tenant, format=None, update=False, **options):
        tenant_row = Tenant.objects.filter(slug=tenant).first()
        if tenant_row is None:
            raise CommandError(f"no tenant {tenant!r}")
        source = Path(path)
        if not source.exists():
            raise CommandError(f"no such file: {source}")
        kind = format or ("csv" if source.suffix.lower() == ".csv" else "json")
        records = read_csv(source) if kind == "csv" else read_json(source)
        if not records:
            raise CommandError("no cases in the file")
        try:
            cases = backtest_cases_import(
                tenant=tenant_row,
                records=records,
                actor=Actor.system("import_backtest_cases"),
                update_existing=update,
            )
        except ValidationFailed as exc:
            raise CommandError(
                "nothing imported: " + json.dumps(exc.errors, sort_keys=True)
            ) from exc
        self.stdout.write(f"imported {len(cases)} backtest case(s) into {tenant_row.slug}")
