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


class LedgerEntry(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="ledger_entries")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=100, blank=True, default="")
    subject_id = models.CharField(max_length=64, blank=True, default="")
    actor = models.CharField(max_length=150)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

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
