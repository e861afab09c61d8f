"""The ledger stores each entry's canonical bytes (``body``) and generates every readable column
from them, so a chain is verified by hashing one column and checking links, in the database.

Existing entries get the body their hash was computed over (rebuilt from their columns exactly
as verification used to rebuild it): an intact chain stays intact and a tampered row stays
reported.
"""

import datetime as dt
import json

from django.db import migrations, models

import governance.models.ledger

TIME_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION governance_ledger_time(text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT $1::timestamptz $$;
"""
TIME_FUNCTION_REVERSE = "DROP FUNCTION IF EXISTS governance_ledger_time(text);"
GUARD = "ALTER TABLE governance_ledgerentry {} TRIGGER govloop_ledger_append_only"

DERIVED = [
    ("seq", models.BigIntegerField(), "bigint"),
    ("kind", models.CharField(max_length=64), "text"),
    ("subject_type", models.CharField(max_length=100), "text"),
    ("subject_id", models.CharField(max_length=64), "text"),
    ("actor", models.CharField(max_length=150), "text"),
    ("payload", models.JSONField(), "json"),
    ("created_at", models.DateTimeField(), "timestamp"),
    ("prev_hash", models.CharField(max_length=64), "text"),
]


def create_time_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TIME_FUNCTION_SQL)


def drop_time_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TIME_FUNCTION_REVERSE)


def _canonical(value):
    # Frozen copy of governance.services.ledger.canonical_json as of this migration.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _iso_utc(moment):
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def fill_bodies(apps, schema_editor):
    entry_model = apps.get_model("governance", "LedgerEntry")
    rows = entry_model._base_manager.order_by("pk").values_list(
        "pk",
        "tenant_id",
        "seq",
        "kind",
        "subject_type",
        "subject_id",
        "actor",
        "payload",
        "created_at",
        "prev_hash",
    )
    updates = [
        (
            _canonical(
                {
                    "tenant": tenant_id,
                    "seq": seq,
                    "kind": kind,
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "actor": actor,
                    "payload": payload,
                    "created_at": _iso_utc(created_at),
                    "prev_hash": prev_hash,
                }
            ),
            pk,
        )
        for pk, tenant_id, seq, kind, subject_type, subject_id, actor, payload, created_at, prev_hash in rows.iterator()
    ]
    if not updates:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        if postgres:
            cursor.execute(GUARD.format("DISABLE"))
        cursor.executemany("UPDATE governance_ledgerentry SET body = %s WHERE id = %s", updates)
        if postgres:
            cursor.execute(GUARD.format("ENABLE"))


class Migration(migrations.Migration):

    dependencies = [("governance", "0005_levers_permissions")]

    operations = [
        migrations.RunPython(create_time_function, drop_time_function),
        migrations.AddField(
            model_name="ledgerentry", name="body", field=models.TextField(null=True)
        ),
        migrations.RunPython(fill_bodies, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="ledgerentry", name="ledger_unique_tenant_seq"),
        migrations.RemoveIndex(model_name="ledgerentry", name="ledger_subject_idx"),
        migrations.RemoveIndex(model_name="ledgerentry", name="ledger_kind_idx"),
        migrations.RemoveIndex(model_name="ledgerentry", name="ledger_actor_idx"),
        *[migrations.RemoveField(model_name="ledgerentry", name=name) for name, _, _ in DERIVED],
        migrations.AlterField(model_name="ledgerentry", name="body", field=models.TextField()),
        *[
            migrations.AddField(
                model_name="ledgerentry",
                name=name,
                field=models.GeneratedField(
                    expression=governance.models.ledger.BodyKey(name, as_type=as_type),
                    output_field=output_field,
                    db_persist=True,
                ),
            )
            for name, output_field, as_type in DERIVED
        ],
        migrations.AddField(
            model_name="ledgerentry",
            name="body_tenant_id",
            field=models.GeneratedField(
                expression=governance.models.ledger.BodyKey("tenant", as_type="bigint"),
                output_field=models.BigIntegerField(),
                db_persist=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                fields=("tenant", "seq"), name="ledger_unique_tenant_seq"
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["tenant", "subject_type", "subject_id"], name="ledger_subject_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(fields=["tenant", "kind", "seq"], name="ledger_kind_idx"),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(fields=["actor"], name="ledger_actor_idx"),
        ),
    ]
