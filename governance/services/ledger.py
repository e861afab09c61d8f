"""The tamper-evident ledger: one hash chain per tenant, anchored under a key the database
never sees. ``ledger_append`` is the only way in."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from governance.kernel.kinds import LedgerKind
from governance.models import LedgerAnchor, LedgerEntry, LedgerHead, Tenant
from governance.models.ledger import DERIVED_COLUMNS

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


def entry_text(
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
) -> str:
    """The canonical JSON of one entry (``created_at`` already as :func:`iso_utc` text): what
    the ``body`` column stores and, UTF-8 encoded, what the chain hashes."""
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
    )


def entry_body(**fields: Any) -> bytes:
    """The canonical bytes of one entry (the arguments of :func:`entry_text`)."""
    return entry_text(**fields).encode()


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
    # One vocabulary: a kind missing from LedgerKind is a programming error, refused here.
    kind = LedgerKind(kind).value
    if subject is not None:
        subject_type, subject_id = subject_of(subject)
    created_at = now or timezone.now()
    body = normalise_payload(payload or {})
    head = _lock_head(tenant_id)
    seq = head.seq + 1
    text = entry_text(
        tenant_id=tenant_id,
        seq=seq,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
        actor=actor.label,
        payload=body,
        created_at=iso_utc(created_at),
        prev_hash=head.hash,
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    # Only the body and its hash are written: the database generates every readable column
    # from the body (and returns them on the INSERT).
    entry = LedgerEntry.objects.create(tenant_id=tenant_id, body=text, hash=digest)
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


_TABLE = LedgerEntry._meta.db_table

# A chain is checked by one statement of two passes, each returning the row count, the
# highest seq and the lowest seq that fails (one statement: both passes see one snapshot).
#
# Every body hashes to its row's hash and names its row's tenant: a parallel scan.
# {body_digest} is the body's SHA-256 in hex: the ``body_sha256`` column PostgreSQL generated
# when the row was written (migration 0007), or, with ``rehash``, computed again now.
_HASHES_SQL = f"""
SELECT count(*) AS rows, coalesce(max(seq), 0) AS last, min(seq) FILTER (
    WHERE {{body_digest}} IS DISTINCT FROM hash
       OR body_tenant_id IS DISTINCT FROM tenant_id
) AS failed
FROM {_TABLE} WHERE tenant_id = %(tenant)s
"""
# The digest column, its generation expression as migration 0007 wrote it, and its type; and
# the source of the one function that expression calls.
DIGEST_COLUMN = ("body_sha256", "governance_ledger_sha256(body)", "text")
DIGEST_FUNCTION_SOURCE = (
    "SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')), 'hex')"
)
# The functions a column's generation expression depends on, with their source.
_GENERATION_FUNCTIONS_SQL = """
    SELECT p.prosrc
    FROM pg_attribute a
    JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
        AND dep.refclassid = 'pg_proc'::regclass
    JOIN pg_proc p ON p.oid = dep.refobjid
    WHERE a.attrelid = %s::regclass AND a.attname = %s
"""

# Seqs run 1, 2, 3... with no gap or repeat (each equals its position), and every entry
# carries its predecessor's hash (genesis for the first): one pass in seq order over the
# covering unique index (migration 0007), which holds seq, hash and prev_hash, so a table at
# rest (pages all-visible) is not read a second time.
_LINKS_SQL = f"""
SELECT count(*) AS rows, coalesce(max(seq), 0) AS last, min(seq) FILTER (
    WHERE seq <> position OR prev_hash IS DISTINCT FROM before
) AS failed
FROM (
    SELECT seq, prev_hash, row_number() OVER links AS position,
           lag(hash, 1, %(genesis)s) OVER links AS before
    FROM {_TABLE} WHERE tenant_id = %(tenant)s AND seq IS NOT NULL
    WINDOW links AS (ORDER BY seq)
) chain
"""

_CHAIN_SQL = f"""
SELECT links.rows, links.last, least(hashes.failed, links.failed)
FROM ({_HASHES_SQL}) hashes, ({_LINKS_SQL}) links
"""


def _rehash_sql() -> str:
    """Every body's SHA-256 computed now. ``textsend`` hands over the text in the session's
    client encoding without checking it again, which is measurably cheaper than ``convert_to``
    over a whole chain; it is the body's UTF-8 bytes only when both ends speak UTF-8 (Django's
    default)."""
    info = connection.connection.info
    encodings = {info.parameter_status(name) for name in ("client_encoding", "server_encoding")}
    body_bytes = "textsend(body)" if encodings == {"UTF8"} else "convert_to(body, 'UTF8')"
    return f"encode(sha256({body_bytes}), 'hex')"


def _chain_postgres(tenant_id: int, *, rehash: bool) -> tuple[int, int, int | None]:
    connection.ensure_connection()
    digest = _rehash_sql() if rehash else DIGEST_COLUMN[0]
    with connection.cursor() as cursor:
        cursor.execute(
            _CHAIN_SQL.format(body_digest=digest),
            {"tenant": tenant_id, "genesis": GENESIS_HASH},
        )
        return cursor.fetchone()


_GENERATION_CATALOG_SQL = """
    SELECT a.attname, a.attgenerated, pg_get_expr(d.adbin, d.adrelid)
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""
# Per database alias and server version: what the model's expressions read back as.
_expected_generation_cache: dict[tuple[str, int], dict[str, tuple[str, str]]] = {}


def _expected_generation() -> dict[str, tuple[str, str]]:
    """How PostgreSQL prints the model's own generation expressions, read back from a temporary
    table built from the field definitions, so the comparison does not depend on how a server
    version prints them. It depends only on the model and the server, so it is built once."""
    key = (connection.alias, connection.pg_version)
    if key not in _expected_generation_cache:
        column, expression, db_type = DIGEST_COLUMN
        columns = [f"{column} {db_type} GENERATED ALWAYS AS ({expression}) STORED"]
        for name in DERIVED_COLUMNS:
            field = LedgerEntry._meta.get_field(name)
            expression, params = field.generated_sql(connection)
            assert not params, "a derived column's expression is a literal SQL template"
            columns.append(
                f"{connection.ops.quote_name(field.column)} {field.db_type(connection)}"
                f" GENERATED ALWAYS AS ({expression}) STORED"
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE govloop_ledger_shape (body text, "
                + ", ".join(columns)
                + ") ON COMMIT DROP"
            )
            cursor.execute(_GENERATION_CATALOG_SQL, ["pg_temp.govloop_ledger_shape"])
            shape = {name: (gen, expr) for name, gen, expr in cursor.fetchall()}
            cursor.execute("DROP TABLE pg_temp.govloop_ledger_shape")
        _expected_generation_cache[key] = shape
    return _expected_generation_cache[key]


def _derivation_problem() -> str:
    """On PostgreSQL, that every readable column and ``body_sha256`` are still generated from
    ``body`` by the expressions the model and migration 0007 define, and that the function
    ``body_sha256`` calls is still the SHA-256 of the body. Someone able to run DDL could
    otherwise drop a generation expression, or replace that function, and make a column say
    what the body does not."""
    if connection.vendor != "postgresql":
        return ""
    expected = _expected_generation()
    with connection.cursor() as cursor:
        cursor.execute(_GENERATION_CATALOG_SQL, [_TABLE])
        actual = {name: (gen, expr) for name, gen, expr in cursor.fetchall()}
        cursor.execute(_GENERATION_FUNCTIONS_SQL, [_TABLE, DIGEST_COLUMN[0]])
        digest_functions = [source.strip() for (source,) in cursor.fetchall()]
    derived = [LedgerEntry._meta.get_field(name).column for name in DERIVED_COLUMNS]
    for column in [*derived, DIGEST_COLUMN[0]]:
        if actual.get(column) != expected[column]:
            return (
                f"column {column} is no longer generated from the hashed body"
                " (the table's definition was altered)"
            )
    if digest_functions != [DIGEST_FUNCTION_SOURCE]:
        return (
            f"column {DIGEST_COLUMN[0]} is no longer computed as the SHA-256 of the body"
            " (the function it calls was altered)"
        )
    return ""


def _chain_python(tenant_id: int, chunk: int = 20000) -> tuple[int, int, int | None]:
    """The same checks as ``_CHAIN_SQL``, in seq order, for SQLite."""
    sha256 = hashlib.sha256
    prev, expected_seq, count = GENESIS_HASH, 1, 0
    rows = LedgerEntry.objects.filter(tenant_id=tenant_id).order_by("seq")
    while True:
        batch = list(
            rows.filter(seq__gte=expected_seq).values_list(
                "seq", "body_tenant_id", "prev_hash", "body", "hash"
            )[:chunk]
        )
        if not batch:
            return count, expected_seq - 1, None
        for seq, body_tenant, prev_hash, body, digest in batch:
            if (
                seq != expected_seq
                or body_tenant != tenant_id
                or prev_hash != prev
                or sha256(body.encode()).hexdigest() != digest
            ):
                return count, expected_seq - 1, min(seq, expected_seq)
            prev, expected_seq, count = digest, expected_seq + 1, count + 1


def _diagnose(tenant_id: int, seq: int) -> tuple[int, str]:
    """Name what is wrong at ``seq``, the lowest seq the chain check flagged."""
    rows = {
        row[0]: row
        for row in LedgerEntry.objects.filter(
            tenant_id=tenant_id, seq__in=[seq - 1, seq]
        ).values_list("seq", "body_tenant_id", "body", "hash")
    }
    if seq > 1 and seq - 1 not in rows:
        return seq - 1, f"entry {seq - 1} is missing"
    if seq not in rows:
        return seq, f"entry {seq} is missing"
    if LedgerEntry.objects.filter(tenant_id=tenant_id, seq=seq).count() > 1:
        return seq, f"entry {seq} appears more than once (the chain forks)"
    _, body_tenant, body, digest = rows[seq]
    if hashlib.sha256(body.encode()).hexdigest() != digest:
        return seq, f"entry {seq} does not match its hash"
    if body_tenant != tenant_id:
        return seq, f"entry {seq} was written for another tenant's chain"
    return seq, f"entry {seq} does not link to its predecessor"


def _file_anchors(tenant_id: int) -> list[dict[str, Any]]:
    path = Path(settings.LEDGER_ANCHOR_FILE)
    if not path.exists():
        return []
    # The file holds every tenant's anchors, one canonical JSON line per anchored batch: skip
    # other tenants' lines without parsing them (a prefix match such as tenant 12 for tenant 1
    # is settled by the exact check below).
    marker = f'"tenant":{tenant_id}'
    found = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if marker not in line:
                continue
            line = line.strip()
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("tenant") == tenant_id:
                found.append(record)
    return found


def _verified_anchors(tenant_id: int) -> tuple[dict[int, str], VerifyResult | None]:
    """Every anchor of the tenant (database and file) as ``{seq: hash}``, or the first one
    whose signature is not ours."""
    anchors: dict[int, tuple[str, str]] = {}
    for seq, head_hash, signature in LedgerAnchor.objects.filter(tenant_id=tenant_id).values_list(
        "seq", "hash", "signature"
    ):
        anchors[seq] = (head_hash, signature)
    for record in _file_anchors(tenant_id):
        anchors.setdefault(record["seq"], (record["hash"], record["signature"]))
    for seq in sorted(anchors):
        head_hash, signature = anchors[seq]
        expected = sign_anchor(tenant_id=tenant_id, seq=seq, head_hash=head_hash)
        if not hmac.compare_digest(expected, signature):
            return {}, VerifyResult(
                tenant_id=tenant_id,
                entries=0,
                anchors_checked=0,
                first_broken_seq=seq,
                problem=f"anchor at seq {seq} has an invalid signature",
            )
    return {seq: head_hash for seq, (head_hash, _) in anchors.items()}, None


def _first_contradicted_anchor(
    tenant_id: int, anchors: dict[int, str], chunk: int = 10000
) -> tuple[int | None, str]:
    """The lowest anchored seq whose entry is missing or has another hash."""
    seqs = sorted(anchors)
    for start in range(0, len(seqs), chunk):
        part = seqs[start : start + chunk]
        found = dict(
            LedgerEntry.objects.filter(tenant_id=tenant_id, seq__in=part).values_list("seq", "hash")
        )
        for seq in part:
            if seq not in found:
                return seq, f"anchored entry {seq} is missing from the chain"
            if found[seq] != anchors[seq]:
                return seq, f"entry {seq} contradicts its signed anchor"
    return None, ""


def _anchoring_problem(
    tenant_id: int, anchors: dict[int, str], last: int, now: dt.datetime
) -> tuple[int | None, str]:
    """A chain that passes every check is still unproven where no signed anchor covers it:
    anyone able to write the table can rewrite an unanchored chain and recompute its hashes.
    Every committed append batch anchors the head and the beat re-anchors every
    ``LEDGER_ANCHOR_INTERVAL`` seconds, so an unanchored entry older than that interval means
    anchoring stopped (or its anchors were removed)."""
    if last == 0:
        return None, ""
    anchored = max((seq for seq in anchors if seq <= last), default=0)
    if anchored == 0:
        return 1, (
            f"no signed anchor covers entries 1-{last}: the chain cannot be told apart from"
            " a rewrite (were the anchors deleted, or LEDGER_ANCHOR_FILE moved?)"
        )
    if anchored == last:
        return None, ""
    interval = dt.timedelta(seconds=settings.LEDGER_ANCHOR_INTERVAL)
    oldest = (
        LedgerEntry.objects.filter(tenant_id=tenant_id, seq=anchored + 1)
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is not None and oldest < now - interval:
        return anchored + 1, (
            f"entries {anchored + 1}-{last} are not anchored, the first since {iso_utc(oldest)}"
            f" (longer than the anchoring interval of {interval}): anchoring stopped"
        )
    return None, ""


def ledger_verify(
    *, tenant_id: int, rehash: bool = False, now: dt.datetime | None = None
) -> VerifyResult:
    """Check the tenant's chain and every signed anchor (database and file). Names the first
    broken sequence number: a body that does not match its hash, a broken link, a gap, or an
    entry that contradicts a signed anchor (a chain rewritten with recomputed hashes). A
    non-empty chain that no signed anchor covers fails, and so does one whose unanchored tail
    is older than the anchoring interval: neither can be told apart from a rewrite.

    On PostgreSQL a body's SHA-256 is read from the column the database generated when the row
    was written, which no one can write and which is recomputed whenever the body changes;
    ``rehash`` computes every one again now, for when the table's catalog itself is in doubt.
    SQLite always hashes."""
    anchors, invalid = _verified_anchors(tenant_id)
    if invalid is not None:
        return invalid
    result = VerifyResult(tenant_id=tenant_id, entries=0, anchors_checked=0)
    problem = _derivation_problem()
    if problem:
        result.problem = problem
        return result

    if connection.vendor == "postgresql":
        count, last, first_bad = _chain_postgres(tenant_id, rehash=rehash)
    else:
        count, last, first_bad = _chain_python(tenant_id)
    anchor_seq, anchor_problem = _first_contradicted_anchor(tenant_id, anchors)
    result.entries = count
    result.anchors_checked = sum(1 for seq in anchors if seq <= last)
    if first_bad is not None:
        first_bad, problem = _diagnose(tenant_id, first_bad)
        if anchor_seq is None or first_bad <= anchor_seq:
            result.first_broken_seq, result.problem = first_bad, problem
            result.entries = first_bad - 1
            return result
    if anchor_seq is not None:
        result.first_broken_seq, result.problem = anchor_seq, anchor_problem
        result.entries = min(count, anchor_seq - 1)
    elif LedgerEntry.objects.filter(tenant_id=tenant_id, seq__isnull=True).exists():
        # A row inserted behind the service's back whose body has no seq: no pass above can
        # place it in the chain.
        result.first_broken_seq = last + 1
        result.problem = f"an entry whose body carries no sequence number follows entry {last}"
        result.entries = last
    else:
        gap_seq, gap_problem = _anchoring_problem(tenant_id, anchors, last, now or timezone.now())
        if gap_seq is not None:
            result.first_broken_seq, result.problem = gap_seq, gap_problem
    return result
