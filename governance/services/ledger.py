"""The tamper-evident ledger: one hash chain per tenant, anchored under a key the database
never sees. ``ledger_append`` is the only way in."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from governance.models import LedgerAnchor, LedgerEntry, LedgerHead, Tenant

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did it, as the ledger names them: ``user:alice``, ``token:ingest``, ``system:beat``."""

    kind: str
    name: str
    user_id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def for_user(cls, user) -> Actor:
        return cls(kind="user", name=user.get_username(), user_id=user.pk)

    @classmethod
    def for_token(cls, token) -> Actor:
        if token.user_id:
            return cls(kind="user", name=token.user.get_username(), user_id=token.user_id)
        return cls(kind="token", name=token.name)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(kind="system", name=name)

    @property
    def is_human(self) -> bool:
        return self.kind == "user"


def subject_of(obj: Model | None) -> tuple[str, str]:
    if obj is None:
        return "", ""
    return obj._meta.label_lower, str(obj.pk)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# One encoder for every call: json.dumps with non-default options builds a new encoder each
# time, which dominates the cost of hashing short entries.
_CANONICAL = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_json_default,
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text, UTC ISO timestamps: the bytes the chain hashes."""
    return _CANONICAL.encode(value)


def iso_utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_float(text: str) -> float | int:
    # PostgreSQL's jsonb prints numbers without an exponent, so 1e+16 reads back as the
    # integer 10000000000000000. Every float that large is integral: store it as the integer
    # up front so the hashed payload is the one the column returns.
    value = float(text)
    if abs(value) >= 1e16:
        return int(value)
    return value


def normalise_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as it will read back from the JSON column (so the hash is reproducible)."""
    return json.loads(canonical_json(payload), parse_float=_parse_float)


def entry_body(
    *,
    tenant_id: int,
    seq: int,
    kind: str,
    subject_type: str,
    subject_id: str,
    actor: str,
    payload: dict[str, Any],
    created_at: str,
    prev_hash: str,
) -> bytes:
    """The canonical bytes of one entry (``created_at`` already as :func:`iso_utc` text)."""
    return _CANONICAL.encode(
        {
            "tenant": tenant_id,
            "seq": seq,
            "kind": kind,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "actor": actor,
            "payload": payload,
            "created_at": created_at,
            "prev_hash": prev_hash,
        }
    ).encode()


def entry_hash(
    *,
    tenant_id: int,
    seq: int,
    kind: str,
    subject_type: str,
    subject_id: str,
    actor: str,
    payload: dict[str, Any],
    created_at: dt.datetime,
    prev_hash: str,
) -> str:
    body = entry_body(
        tenant_id=tenant_id,
        seq=seq,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload=payload,
        created_at=iso_utc(created_at),
        prev_hash=prev_hash,
    )
    return hashlib.sha256(body).hexdigest()


def _lock_head(tenant_id: int) -> LedgerHead:
    # The head row is the per-tenant mutex: SELECT ... FOR UPDATE queues concurrent appenders
    # so each sees the previous one's hash. SQLite serializes writers by itself.
    head = LedgerHead.objects.select_for_update().filter(tenant_id=tenant_id).first()
    if head is None:
        LedgerHead.objects.get_or_create(tenant_id=tenant_id)
        head = LedgerHead.objects.select_for_update().get(tenant_id=tenant_id)
    return head


def ledger_lock(*, tenant_id: int) -> None:
    """Take the tenant's append lock now (held to the end of the transaction), for a service
    that must order it before its own row locks."""
    _lock_head(tenant_id)


@transaction.atomic
def ledger_append(
    *,
    tenant: Tenant | int,
    kind: str,
    actor: Actor,
    subject: Model | None = None,
    subject_type: str = "",
    subject_id: str = "",
    payload: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    if subject is not None:
        subject_type, subject_id = subject_of(subject)
    created_at = now or timezone.now()
    body = normalise_payload(payload or {})
    head = _lock_head(tenant_id)
    seq = head.seq + 1
    digest = entry_hash(
        tenant_id=tenant_id,
        seq=seq,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
        actor=actor.label,
        payload=body,
        created_at=created_at,
        prev_hash=head.hash,
    )
    entry = LedgerEntry.objects.create(
        tenant_id=tenant_id,
        seq=seq,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
        actor=actor.label,
        payload=body,
        created_at=created_at,
        prev_hash=head.hash,
        hash=digest,
    )
    head.seq, head.hash = seq, digest
    head.save(update_fields=["seq", "hash"])
    _anchor_on_commit(tenant_id)
    return entry


def _anchor_on_commit(tenant_id: int) -> None:
    """Anchor the head once per committed append batch (transaction). A batch of many appends
    registers one callback: Django drops pending callbacks on rollback, so looking for ours in
    the pending list is also rollback-safe."""
    for _sids, func, _robust in connection.run_on_commit:
        if getattr(func, "ledger_anchor_tenant", None) == tenant_id:
            return

    def anchor() -> None:
        ledger_anchor_head(tenant_id=tenant_id)

    anchor.ledger_anchor_tenant = tenant_id  # type: ignore[attr-defined]
    # robust: the change is committed whatever happens here; a failed anchoring is logged and
    # the scheduled anchoring (ledger_anchor_heads) signs the head later.
    transaction.on_commit(anchor, robust=True)


def sign_anchor(*, tenant_id: int, seq: int, head_hash: str) -> str:
    message = f"{tenant_id}:{seq}:{head_hash}".encode()
    return hmac.new(settings.LEDGER_SIGNING_KEY.encode(), message, hashlib.sha256).hexdigest()


def _write_anchor_file(anchor: LedgerAnchor) -> None:
    path = Path(settings.LEDGER_ANCHOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = canonical_json(
        {
            "tenant": anchor.tenant_id,
            "seq": anchor.seq,
            "hash": anchor.hash,
            "signature": anchor.signature,
            "created_at": iso_utc(anchor.created_at),
        }
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def ledger_anchor_head(*, tenant_id: int, now: dt.datetime | None = None) -> LedgerAnchor | None:
    """Sign the tenant's current head unless it is already anchored. Safe to run twice."""
    head = LedgerHead.objects.filter(tenant_id=tenant_id).values_list("seq", "hash").first()
    if head is None or head[0] == 0:
        return None
    seq, head_hash = head
    anchor = LedgerAnchor(
        tenant_id=tenant_id,
        seq=seq,
        hash=head_hash,
        signature=sign_anchor(tenant_id=tenant_id, seq=seq, head_hash=head_hash),
        created_at=now or timezone.now(),
    )
    # One statement, no savepoint: this runs after every committed append batch, and a
    # concurrent anchoring of the same head simply inserts nothing.
    table = LedgerAnchor._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, seq, hash, signature, created_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, seq) DO NOTHING RETURNING id",
            [
                anchor.tenant_id,
                anchor.seq,
                anchor.hash,
                anchor.signature,
                LedgerAnchor._meta.get_field("created_at").get_db_prep_value(
                    anchor.created_at, connection
                ),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    anchor.pk = row[0]
    anchor._state.adding = False
    _write_anchor_file(anchor)
    return anchor


def ledger_anchor_all(*, now: dt.datetime | None = None) -> int:
    """The scheduled anchoring of every tenant's head; returns how many anchors were new."""
    created = 0
    for tenant_id in LedgerHead.objects.filter(seq__gt=0).values_list("tenant_id", flat=True):
        if ledger_anchor_head(tenant_id=tenant_id, now=now) is not None:
            created += 1
    return created


@dataclass
class VerifyResult:
    tenant_id: int
    entries: int
    anchors_checked: int
    first_broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_seq is None and not self.problem


_VERIFY_SQL_POSTGRES = """
SELECT seq, kind, subject_type, subject_id, actor, payload,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
       prev_hash, hash
FROM governance_ledgerentry
WHERE tenant_id = %s AND seq > %s
ORDER BY seq
LIMIT %s
"""


def _iter_entries(tenant_id: int, chunk: int = 20000) -> Iterator[tuple]:
    """Every entry of the tenant in seq order as ``(seq, kind, subject_type, subject_id, actor,
    payload, created_at_iso, prev_hash, hash)``, in keyset-paginated chunks (bounded memory).
    On PostgreSQL a raw query formats the timestamp and returns the JSON as text, so a row
    costs no ORM conversion: verification time is dominated by hashing."""
    last = 0
    if connection.vendor == "postgresql":
        loads = json.loads
        while True:
            with connection.cursor() as cursor:
                cursor.execute(_VERIFY_SQL_POSTGRES, [tenant_id, last, chunk])
                rows = cursor.fetchall()
            if not rows:
                return
            for seq, kind, s_type, s_id, actor, payload, created, prev_hash, digest in rows:
                if isinstance(payload, str):
                    payload = loads(payload)
                yield seq, kind, s_type, s_id, actor, payload, created, prev_hash, digest
            last = rows[-1][0]
    fields = (
        "seq",
        "kind",
        "subject_type",
        "subject_id",
        "actor",
        "payload",
        "created_at",
        "prev_hash",
        "hash",
    )
    while True:
        rows = list(
            LedgerEntry.objects.filter(tenant_id=tenant_id, seq__gt=last)
            .order_by("seq")
            .values_list(*fields)[:chunk]
        )
        if not rows:
            return
        for row in rows:
            yield (*row[:6], iso_utc(row[6]), row[7], row[8])
        last = rows[-1][0]


def _file_anchors(tenant_id: int) -> list[dict[str, Any]]:
    path = Path(settings.LEDGER_ANCHOR_FILE)
    if not path.exists():
        return []
    found = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("tenant") == tenant_id:
                found.append(record)
    return found


def ledger_verify(*, tenant_id: int) -> VerifyResult:
    """Recompute the chain and check every anchor (database and file). Names the first broken
    sequence number: a hash mismatch, a broken link, a gap, or an entry that contradicts a
    signed anchor."""
    anchors: dict[int, tuple[str, str]] = {}
    for seq, head_hash, signature in LedgerAnchor.objects.filter(tenant_id=tenant_id).values_list(
        "seq", "hash", "signature"
    ):
        anchors[seq] = (head_hash, signature)
    for record in _file_anchors(tenant_id):
        anchors.setdefault(record["seq"], (record["hash"], record["signature"]))

    result = VerifyResult(tenant_id=tenant_id, entries=0, anchors_checked=0)
    for seq in sorted(anchors):
        head_hash, signature = anchors[seq]
        expected = sign_anchor(tenant_id=tenant_id, seq=seq, head_hash=head_hash)
        if not hmac.compare_digest(expected, signature):
            result.problem = f"anchor at seq {seq} has an invalid signature"
            result.first_broken_seq = seq
            return result

    # The loop below is the hot path of `verify_ledger` (100,000s of rows): locals only.
    sha256 = hashlib.sha256
    encode = _CANONICAL.encode
    prev = GENESIS_HASH
    expected_seq = 1
    for seq, kind, s_type, s_id, actor, payload, created, prev_hash, digest in _iter_entries(
        tenant_id
    ):
        if seq != expected_seq:
            result.first_broken_seq = expected_seq
            result.problem = f"entry {expected_seq} is missing"
            return result
        body = encode(
            {
                "tenant": tenant_id,
                "seq": seq,
                "kind": kind,
                "subject_type": s_type,
                "subject_id": s_id,
                "actor": actor,
                "payload": payload,
                "created_at": created,
                "prev_hash": prev_hash,
            }
        )
        if prev_hash != prev or sha256(body.encode()).hexdigest() != digest:
            result.first_broken_seq = seq
            result.problem = f"entry {seq} does not match its hash or its predecessor"
            return result
        anchor = anchors.get(seq)
        if anchor is not None:
            result.anchors_checked += 1
            if anchor[0] != digest:
                result.first_broken_seq = seq
                result.problem = f"entry {seq} contradicts its signed anchor"
                return result
        result.entries += 1
        prev = digest
        expected_seq += 1

    missing = [seq for seq in anchors if seq >= expected_seq]
    if missing:
        result.first_broken_seq = min(missing)
        result.problem = f"anchored entry {min(missing)} is missing from the chain"
    return result


def ledger_verify_all(*, tenant_ids: Iterable[int] | None = None) -> list[VerifyResult]:
    ids = (
        list(tenant_ids)
        if tenant_ids is not None
        else list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    )
    return [ledger_verify(tenant_id=tenant_id) for tenant_id in ids]
