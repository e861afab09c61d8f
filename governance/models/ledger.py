from django.db import models
from django.utils import timezone

from governance.models.tenancy import Tenant


class LedgerImmutableError(Exception):
    """The ledger is append-only: rows are never updated or deleted."""


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError("ledger entries cannot be updated")

    def delete(self):
        raise LedgerImmutableError("ledger entries cannot be deleted")

    _raw_delete = delete
    bulk_update = update


class BodyKey(models.Func):
    """One key of an entry's canonical body, as the database reads it. Every readable column of
    an entry is generated from the hashed bytes with one of these, so no column can say
    anything the chain does not sign (PostgreSQL and SQLite refuse writes to them)."""

    def __init__(self, key: str, *, as_type: str = "text", **extra):
        # The key is one of this module's literals, never user input: it goes into the SQL.
        assert key.isidentifier(), key
        super().__init__(models.F("body"), key=key, as_type=as_type, **extra)

    def as_postgresql(self, compiler, connection, **extra_context):
        templates = {
            "text": "((%(expressions)s)::jsonb ->> '%(key)s')",
            "bigint": "(((%(expressions)s)::jsonb ->> '%(key)s'))::bigint",
            "json": "((%(expressions)s)::jsonb -> '%(key)s')",
            # An IMMUTABLE wrapper (migration 0006) around the text -> timestamptz cast, which
            # PostgreSQL marks STABLE because of TimeZone: every body's timestamp carries an
            # explicit "Z", so the result cannot depend on the session.
            "timestamp": "governance_ledger_time(((%(expressions)s)::jsonb ->> '%(key)s'))",
        }
        return self.as_sql(
            compiler, connection, template=templates[self.extra["as_type"]], **extra_context
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "json_extract(%(expressions)s, '$.%(key)s')"
        if self.extra["as_type"] == "timestamp":
            # Django keeps SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
            template = f"replace(replace({template}, 'T', ' '), 'Z', '')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _from_body(key: str, output_field: models.Field, as_type: str = "text"):
    return models.GeneratedField(
        expression=BodyKey(key, as_type=as_type), output_field=output_field, db_persist=True
    )


# The readable columns and the body key each one is generated from (verification checks that
# the database still generates them, with these expressions).
DERIVED_COLUMNS = (
    "seq",
    "kind",
    "subject_type",
    "subject_id",
    "actor",
    "payload",
    "created_at",
    "prev_hash",
    "body_tenant_id",
)


class LedgerEntry(models.Model):
    """One link of a tenant's chain. ``body`` holds the canonical JSON bytes that ``hash`` is
    the SHA-256 of; every other column is generated from ``body``, so verifying a chain is
    hashing ``body`` and checking the links, in the database."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ledger_entries")
    body = models.TextField()
    hash = models.CharField(max_length=64)
    seq = _from_body("seq", models.BigIntegerField(), "bigint")
    kind = _from_body("kind", models.CharField(max_length=64))
    subject_type = _from_body("subject_type", models.CharField(max_length=100))
    subject_id = _from_body("subject_id", models.CharField(max_length=64))
    actor = _from_body("actor", models.CharField(max_length=150))
    payload = _from_body("payload", models.JSONField(), "json")
    created_at = _from_body("created_at", models.DateTimeField(), "timestamp")
    prev_hash = _from_body("prev_hash", models.CharField(max_length=64))
    # The tenant the body was signed for; verification compares it with ``tenant``.
    body_tenant_id = _from_body("tenant", models.BigIntegerField(), "bigint")

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["tenant_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="ledger_unique_tenant_seq")
        ]
        indexes = [
            models.Index(
                fields=["tenant", "subject_type", "subject_id"], name="ledger_subject_idx"
            ),
            models.Index(fields=["tenant", "kind", "seq"], name="ledger_kind_idx"),
            models.Index(fields=["actor"], name="ledger_actor_idx"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.tenant_id}#{self.seq} {self.kind}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise LedgerImmutableError("ledger entries cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("ledger entries cannot be deleted")


class LedgerHead(models.Model):
    """One row per tenant, locked while appending so concurrent writers never fork the chain."""

    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="ledger_head")
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.tenant_id}@{self.seq}"


class LedgerAnchor(models.Model):
    """A signed (tenant, seq, hash) chain head. The signature's key is not in the database, so
    a chain rewritten with recomputed hashes contradicts an anchor it cannot re-sign."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ledger_anchors")
    seq = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    signature = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="anchor_unique_tenant_seq")
        ]

    def __str__(self) -> str:
        return f"anchor {self.tenant_id}#{self.seq}"
