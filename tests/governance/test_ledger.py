import datetime as dt
import hashlib
import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from governance.models import LedgerAnchor, LedgerEntry, LedgerHead, LedgerImmutableError, Tenant
from governance.services.ledger import (
    Actor,
    entry_text,
    iso_utc,
    ledger_anchor_head,
    ledger_append,
    ledger_verify,
    sign_anchor,
)
from tests.factories import TenantFactory

ACTOR = Actor.system("test")


def append_many(tenant, count, start=0):
    return [
        ledger_append(tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"i": i})
        for i in range(start, start + count)
    ]


def verify_command(tenant):
    """Run verify_ledger for one tenant: (exit_ok, output)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_ledger", "--tenant", tenant.slug, stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def disable_guard(cursor):
    # Fire the deferred FK checks of this test's inserts first: PostgreSQL refuses to ALTER a
    # table with pending trigger events.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("ALTER TABLE governance_ledgerentry DISABLE TRIGGER govloop_ledger_append_only")


def enable_guard(cursor):
    cursor.execute("ALTER TABLE governance_ledgerentry ENABLE TRIGGER govloop_ledger_append_only")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def rewrite_chain_from(tenant, first_seq, *, payload):
    """What an attacker with database access does: change entries from ``first_seq`` on and
    recompute every hash so the chain is internally consistent again."""
    with connection.cursor() as cursor:
        disable_guard(cursor)
        entries = list(LedgerEntry.objects.filter(tenant=tenant).order_by("seq"))
        prev = entries[first_seq - 2].hash if first_seq > 1 else "0" * 64
        for entry in entries[first_seq - 1 :]:
            body = entry_text(
                tenant_id=tenant.pk,
                seq=entry.seq,
                kind=entry.kind,
                subject_type=entry.subject_type,
                subject_id=entry.subject_id,
                actor=entry.actor,
                payload=payload,
                created_at=iso_utc(entry.created_at),
                prev_hash=prev,
            )
            digest = hashlib.sha256(body.encode()).hexdigest()
            cursor.execute(
                "UPDATE governance_ledgerentry SET body = %s, hash = %s WHERE id = %s",
                [body, digest, entry.pk],
            )
            prev = digest
        enable_guard(cursor)
    LedgerHead.objects.filter(tenant=tenant).update(hash=prev)


@pytest.mark.django_db
def test_appends_chain_each_entry_to_the_previous_hash(tenant):
    entries = append_many(tenant, 3)

    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == "0" * 64
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok


@pytest.mark.django_db
def test_each_tenant_has_its_own_chain(tenant, other_tenant):
    append_many(tenant, 2)
    first_other = ledger_append(tenant=other_tenant, kind="benchmark.event", actor=ACTOR)

    assert first_other.seq == 1
    assert first_other.prev_hash == "0" * 64


@pytest.mark.django_db
def test_the_hash_is_sha256_over_canonical_json(tenant):
    entry = ledger_append(
        tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"b": 1, "a": [1.5, "é"]}
    )
    created = entry.created_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    body = (
        f'{{"actor":"system:test","created_at":"{created}","kind":"benchmark.event",'
        f'"payload":{{"a":[1.5,"é"],"b":1}},"prev_hash":"{"0" * 64}","seq":1,"subject_id":"",'
        f'"subject_type":"","tenant":{tenant.pk}}}'
    )

    assert entry.body == body
    assert entry.hash == hashlib.sha256(body.encode()).hexdigest()


@pytest.mark.django_db
def test_numbers_of_every_magnitude_verify_after_a_round_trip_through_the_column(tenant):
    payload = {"big": 1e16, "huge": -2.5e300, "tiny": 1e-07, "int": 10**20, "x": 0.1}
    entry = ledger_append(tenant=tenant, kind="benchmark.event", actor=ACTOR, payload=payload)
    ledger_anchor_head(tenant_id=tenant.pk)

    assert ledger_verify(tenant_id=tenant.pk).ok
    assert LedgerEntry.objects.get(pk=entry.pk).payload["tiny"] == 1e-07


@pytest.mark.django_db
def test_the_orm_refuses_to_update_or_delete_an_entry(tenant):
    entry = append_many(tenant, 1)[0]
    entry.kind = "forged"

    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        entry.delete()
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).update(kind="forged")
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get(pk=entry.pk).kind == "benchmark.event"


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            "UPDATE governance_ledgerentry SET hash = repeat('0', 64) WHERE id = %s", id="update"
        ),
        pytest.param("DELETE FROM governance_ledgerentry WHERE id = %s", id="delete"),
    ],
)
def test_postgresql_refuses_raw_update_and_delete(tenant, statement):
    entry = append_many(tenant, 1)[0]

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).kind == "benchmark.event"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_writers_leave_an_unbroken_chain():
    tenant = TenantFactory(slug="concurrent")
    barrier = threading.Barrier(4)
    errors = []

    def writer(n):
        try:
            barrier.wait()
            for i in range(250):
                ledger_append(
                    tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"w": n, "i": i}
                )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    result = ledger_verify(tenant_id=tenant.pk)
    assert result.ok, result.problem
    assert result.entries == 1000
    assert list(LedgerEntry.objects.filter(tenant=tenant).values_list("seq", flat=True)) == list(
        range(1, 1001)
    )
    assert LedgerHead.objects.get(tenant=tenant).seq == 1000


@pytest.mark.postgres
@pytest.mark.django_db
def test_verify_ledger_reports_a_row_altered_behind_the_triggers_back(tenant):
    append_many(tenant, 5)
    with connection.cursor() as cursor:
        disable_guard(cursor)
        cursor.execute(
            "UPDATE governance_ledgerentry SET body = replace(body, '\"i\":2', '\"i\":99')"
            " WHERE tenant_id = %s AND seq = 3",
            [tenant.pk],
        )
        enable_guard(cursor)

    ok, output = verify_command(tenant)

    assert not ok
    assert "BROKEN at seq 3" in output
    assert ledger_verify(tenant_id=tenant.pk).first_broken_seq == 3


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_refuses_writes_to_a_readable_column_even_behind_the_triggers_back(tenant):
    entry = append_many(tenant, 1)[0]

    with connection.cursor() as cursor:
        disable_guard(cursor)
        with (
            pytest.raises(DatabaseError, match="can only be updated to DEFAULT"),
            transaction.atomic(),
        ):
            cursor.execute(
                "UPDATE governance_ledgerentry SET kind = 'forged' WHERE id = %s", [entry.pk]
            )
        enable_guard(cursor)
    assert LedgerEntry.objects.get(pk=entry.pk).kind == "benchmark.event"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_readable_column_cut_loose_from_the_hashed_body_is_reported(tenant):
    append_many(tenant, 3)
    with connection.cursor() as cursor:
        disable_guard(cursor)
        cursor.execute("ALTER TABLE governance_ledgerentry ALTER COLUMN actor DROP EXPRESSION")
        cursor.execute(
            "UPDATE governance_ledgerentry SET actor = 'user:mallory' WHERE tenant_id = %s",
            [tenant.pk],
        )
        enable_guard(cursor)

    result = ledger_verify(tenant_id=tenant.pk)
    ok, output = verify_command(tenant)

    assert not result.ok
    assert "column actor is no longer generated from the hashed body" in result.problem
    assert not ok
    assert "column actor" in output


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_entry_moved_to_another_tenant_breaks_both_chains(tenant, other_tenant):
    append_many(tenant, 4)
    append_many(other_tenant, 2)
    with connection.cursor() as cursor:
        disable_guard(cursor)
        cursor.execute(
            "UPDATE governance_ledgerentry SET tenant_id = %s WHERE tenant_id = %s AND seq = 3",
            [other_tenant.pk, tenant.pk],
        )
        enable_guard(cursor)

    source = ledger_verify(tenant_id=tenant.pk)
    target = ledger_verify(tenant_id=other_tenant.pk)

    assert (source.first_broken_seq, source.problem) == (3, "entry 3 is missing")
    assert target.first_broken_seq == 3
    assert target.problem == "entry 3 was written for another tenant's chain"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_forked_chain_is_reported_at_the_duplicated_seq(tenant):
    append_many(tenant, 4)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE governance_ledgerentry DROP CONSTRAINT ledger_unique_tenant_seq"
        )
        cursor.execute(
            "INSERT INTO governance_ledgerentry (tenant_id, body, hash)"
            " SELECT tenant_id, body, hash FROM governance_ledgerentry"
            " WHERE tenant_id = %s AND seq = 3",
            [tenant.pk],
        )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    result = ledger_verify(tenant_id=tenant.pk)

    assert result.first_broken_seq == 3
    assert result.problem == "entry 3 appears more than once (the chain forks)"


def _alter_body(cursor, tenant, seq):
    cursor.execute(
        "UPDATE governance_ledgerentry SET body = replace(body, '\"i\":', '\"i\":9')"
        " WHERE tenant_id = %s AND seq = %s",
        [tenant.pk, seq],
    )


def _delete_entry(cursor, tenant, seq):
    cursor.execute(
        "DELETE FROM governance_ledgerentry WHERE tenant_id = %s AND seq = %s", [tenant.pk, seq]
    )


def _relink_entry(cursor, tenant, seq):
    # A body that names another predecessor, with its hash recomputed: only the link pass can
    # tell.
    body, _ = LedgerEntry.objects.filter(tenant=tenant, seq=seq).values_list("body", "hash")[0]
    forged = json.loads(body)
    forged["prev_hash"] = "f" * 64
    text = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    cursor.execute(
        "UPDATE governance_ledgerentry SET body = %s, hash = %s WHERE tenant_id = %s AND seq = %s",
        [text, hashlib.sha256(text.encode()).hexdigest(), tenant.pk, seq],
    )


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        pytest.param(_alter_body, "entry 3 does not match its hash", id="altered-body"),
        pytest.param(_delete_entry, "entry 3 is missing", id="deleted-entry"),
        pytest.param(_relink_entry, "entry 3 does not link to its predecessor", id="relinked"),
    ],
)
@pytest.mark.parametrize("rehash", [False, True], ids=["generated-digest", "rehash"])
def test_verification_names_the_first_broken_entry(tenant, tamper, problem, rehash):
    append_many(tenant, 5)
    with connection.cursor() as cursor:
        disable_guard(cursor)
        tamper(cursor, tenant, 3)
        enable_guard(cursor)

    result = ledger_verify(tenant_id=tenant.pk, rehash=rehash)

    assert (result.first_broken_seq, result.problem) == (3, problem)
    assert result.entries == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_generates_each_bodys_digest_and_refuses_writes_to_it(tenant):
    entry = append_many(tenant, 1)[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT body_sha256 FROM governance_ledgerentry WHERE id = %s", [entry.pk])
        assert cursor.fetchone()[0] == entry.hash
        disable_guard(cursor)
        with (
            pytest.raises(DatabaseError, match="can only be updated to DEFAULT"),
            transaction.atomic(),
        ):
            cursor.execute(
                "UPDATE governance_ledgerentry SET body_sha256 = 'forged' WHERE id = %s",
                [entry.pk],
            )
        enable_guard(cursor)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_digest_column_cut_loose_from_the_body_is_reported(tenant):
    append_many(tenant, 3)
    with connection.cursor() as cursor:
        disable_guard(cursor)
        cursor.execute(
            "ALTER TABLE governance_ledgerentry ALTER COLUMN body_sha256 DROP EXPRESSION"
        )
        _alter_body(cursor, tenant, 2)
        cursor.execute(
            "UPDATE governance_ledgerentry SET body_sha256 = hash WHERE tenant_id = %s",
            [tenant.pk],
        )
        enable_guard(cursor)

    assert ledger_verify(tenant_id=tenant.pk).problem == (
        "column body_sha256 is no longer generated from the hashed body"
        " (the table's definition was altered)"
    )
    assert ledger_verify(tenant_id=tenant.pk, rehash=True).problem == (
        "column body_sha256 is no longer generated from the hashed body"
        " (the table's definition was altered)"
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_digest_function_replaced_behind_the_chains_back_is_reported(tenant):
    append_many(tenant, 2)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION governance_ledger_sha256(text) RETURNS text"
            " LANGUAGE sql IMMUTABLE AS $$ SELECT 'forged' $$"
        )

    result = ledger_verify(tenant_id=tenant.pk)

    assert result.problem == (
        "column body_sha256 is no longer computed as the SHA-256 of the body"
        " (the function it calls was altered)"
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_verify_ledger_rehash_computes_every_digest_again(tenant):
    append_many(tenant, 3)
    ledger_anchor_head(tenant_id=tenant.pk)
    out = StringIO()

    call_command("verify_ledger", "--tenant", tenant.slug, "--rehash", stdout=out)

    assert f"{tenant.slug}: OK (3 entries" in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_entry_whose_body_has_no_seq_is_reported_after_the_last_entry(tenant):
    append_many(tenant, 4)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO governance_ledgerentry (tenant_id, body, hash) VALUES (%s, '{}', %s)",
            [tenant.pk, hashlib.sha256(b"{}").hexdigest()],
        )

    result = ledger_verify(tenant_id=tenant.pk)

    assert result.first_broken_seq == 5
    assert result.problem == "an entry whose body carries no sequence number follows entry 4"


@pytest.mark.postgres
@pytest.mark.django_db
def test_rehashing_hashes_bodies_as_utf8_whatever_the_sessions_client_encoding(tenant):
    ledger_append(tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"city": "Zürich"})
    ledger_anchor_head(tenant_id=tenant.pk)
    with connection.cursor() as cursor:
        cursor.execute("SET client_encoding TO 'LATIN1'")
        try:
            result = ledger_verify(tenant_id=tenant.pk, rehash=True)
        finally:
            cursor.execute("SET client_encoding TO 'UTF8'")

    assert result.ok, result.problem
    assert result.entries == 1


@pytest.mark.django_db
def test_every_readable_column_reads_back_what_the_body_says(tenant):
    entry = ledger_append(
        tenant=tenant,
        kind="benchmark.event",
        actor=ACTOR,
        subject_type="governance.configversion",
        subject_id="42",
        payload={"reason": "why", "n": [1, 2.5]},
    )
    stored = LedgerEntry.objects.get(pk=entry.pk)
    body = json.loads(stored.body)

    assert stored.seq == entry.seq == body["seq"] == 1
    assert (stored.kind, stored.actor) == ("benchmark.event", "system:test")
    assert (stored.subject_type, stored.subject_id) == ("governance.configversion", "42")
    assert stored.payload == body["payload"] == {"reason": "why", "n": [1, 2.5]}
    assert iso_utc(stored.created_at) == body["created_at"]
    assert stored.created_at == entry.created_at
    assert stored.prev_hash == body["prev_hash"] == "0" * 64
    assert stored.body_tenant_id == tenant.pk


@pytest.mark.django_db
def test_verify_ledger_exits_cleanly_on_an_intact_chain(tenant):
    append_many(tenant, 4)
    ledger_anchor_head(tenant_id=tenant.pk)

    ok, output = verify_command(tenant)

    assert ok
    assert "acme: OK (4 entries, 1 anchors)" in output


@pytest.mark.django_db
def test_verify_ledger_shows_its_progress_on_stderr_and_its_verdicts_on_stdout(
    tenant, other_tenant
):
    append_many(tenant, 2)
    ledger_anchor_head(tenant_id=tenant.pk)
    out, progress = StringIO(), StringIO()

    call_command("verify_ledger", stdout=out, stderr=progress)

    slugs = list(Tenant.objects.order_by("pk").values_list("slug", flat=True))
    assert progress.getvalue().splitlines() == [
        f"[{index}/{len(slugs)}] verifying {slug}..." for index, slug in enumerate(slugs, 1)
    ]
    assert "acme: OK (2 entries" in out.getvalue()
    assert "globex: OK (0 entries" in out.getvalue()
    assert "verifying" not in out.getvalue()


@pytest.mark.django_db
def test_verify_ledger_refuses_an_unknown_tenant():
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("verify_ledger", "--tenant", "nope")


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_chain_rewritten_with_recomputed_hashes_fails_at_the_first_anchor_it_contradicts(
    tenant,
):
    append_many(tenant, 3)
    ledger_anchor_head(tenant_id=tenant.pk)  # anchors seq 3
    append_many(tenant, 3, start=3)
    ledger_anchor_head(tenant_id=tenant.pk)  # anchors seq 6
    append_many(tenant, 2, start=6)

    rewrite_chain_from(tenant, 2, payload={"i": "rewritten"})
    result = ledger_verify(tenant_id=tenant.pk)

    assert result.first_broken_seq == 3
    assert "contradicts its signed anchor" in result.problem
    ok, output = verify_command(tenant)
    assert not ok
    assert "BROKEN at seq 3" in output


@pytest.mark.postgres
@pytest.mark.django_db
def test_deleting_the_database_anchors_does_not_hide_a_rewrite(tenant):
    """The anchors are also in a file outside the database."""
    append_many(tenant, 4)
    ledger_anchor_head(tenant_id=tenant.pk)
    append_many(tenant, 2, start=4)

    rewrite_chain_from(tenant, 1, payload={"i": "rewritten"})
    LedgerAnchor.objects.filter(tenant=tenant).delete()

    assert ledger_verify(tenant_id=tenant.pk).first_broken_seq == 4


@pytest.mark.django_db
def test_an_anchor_signed_without_the_key_is_reported(tenant):
    entries = append_many(tenant, 2)
    LedgerAnchor.objects.create(tenant=tenant, seq=2, hash=entries[1].hash, signature="f" * 64)

    result = ledger_verify(tenant_id=tenant.pk)

    assert result.first_broken_seq == 2
    assert "invalid signature" in result.problem


@pytest.mark.django_db
def test_anchors_are_signed_with_the_environment_key_and_appended_to_the_file(
    tenant, settings, tmp_path
):
    settings.LEDGER_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    entries = append_many(tenant, 2)

    anchor = ledger_anchor_head(tenant_id=tenant.pk)

    assert anchor.seq == 2
    assert anchor.signature == sign_anchor(tenant_id=tenant.pk, seq=2, head_hash=entries[1].hash)
    lines = (tmp_path / "anchors.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["seq"] == 2
    assert ledger_anchor_head(tenant_id=tenant.pk) is None  # already anchored: safe to rerun


@pytest.mark.django_db
def test_only_the_tenants_own_lines_of_the_anchor_file_are_checked(tenant, settings, tmp_path):
    settings.LEDGER_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    append_many(tenant, 2)
    ledger_anchor_head(tenant_id=tenant.pk)
    forged = {"hash": "a" * 64, "seq": 1, "signature": "f" * 64}
    with (tmp_path / "anchors.jsonl").open("a") as handle:
        for other in (tenant.pk + 1, int(f"{tenant.pk}7")):  # another id, and one it prefixes
            handle.write(json.dumps({**forged, "tenant": other}, separators=(",", ":")) + "\n")

    result = ledger_verify(tenant_id=tenant.pk)

    assert result.ok, result.problem
    assert result.anchors_checked == 1
    assert ledger_verify(tenant_id=int(f"{tenant.pk}7")).problem == (
        "anchor at seq 1 has an invalid signature"
    )


@pytest.mark.django_db
def test_a_committed_append_batch_is_anchored_once(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        append_many(tenant, 3)

    assert list(LedgerAnchor.objects.filter(tenant=tenant).values_list("seq", flat=True)) == [3]


@pytest.mark.django_db
def test_a_rolled_back_append_leaves_no_trace(tenant):
    append_many(tenant, 1)

    with pytest.raises(RuntimeError), transaction.atomic():
        append_many(tenant, 1, start=1)
        raise RuntimeError("the surrounding use case failed")

    assert LedgerEntry.objects.filter(tenant=tenant).count() == 1
    assert LedgerHead.objects.get(tenant=tenant).seq == 1
    assert ledger_append(tenant=tenant, kind="benchmark.event", actor=ACTOR).seq == 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_rewritten_chain_with_no_visible_anchor_fails(tenant, settings, tmp_path):
    """The issue's attack: recompute the hashes, delete the database anchors and point
    LEDGER_ANCHOR_FILE at a missing file. Nothing is left to contradict the rewrite, so the
    chain cannot be trusted."""
    append_many(tenant, 42)
    ledger_anchor_head(tenant_id=tenant.pk)
    rewrite_chain_from(tenant, 1, payload={"i": "rewritten"})
    LedgerAnchor.objects.filter(tenant=tenant).delete()
    settings.LEDGER_ANCHOR_FILE = tmp_path / "missing.jsonl"

    ok, output = verify_command(tenant)

    assert not ok
    assert "BROKEN at seq 1: no signed anchor covers entries 1-42" in output


@pytest.mark.django_db
def test_a_chain_no_anchor_covers_fails_verification(tenant, settings, tmp_path):
    settings.LEDGER_ANCHOR_FILE = tmp_path / "anchors.jsonl"
    append_many(tenant, 3)

    result = ledger_verify(tenant_id=tenant.pk)

    assert not result.ok
    assert result.first_broken_seq == 1
    assert result.problem.startswith("no signed anchor covers entries 1-3")


@pytest.mark.django_db
def test_an_empty_chain_needs_no_anchor(tenant):
    assert ledger_verify(tenant_id=tenant.pk).ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tail_age", "stopped"),
    [
        pytest.param(dt.timedelta(seconds=299), False, id="within-the-interval"),
        pytest.param(dt.timedelta(seconds=301), True, id="older-than-the-interval"),
    ],
)
def test_an_unanchored_tail_older_than_the_anchoring_interval_is_reported(
    tenant, settings, tail_age, stopped
):
    settings.LEDGER_ANCHOR_INTERVAL = 300
    now = timezone.now()
    earlier = now - dt.timedelta(hours=1)
    for i in range(3):
        ledger_append(
            tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"i": i}, now=earlier
        )
    ledger_anchor_head(tenant_id=tenant.pk, now=earlier)
    for i in range(3, 5):
        ledger_append(
            tenant=tenant, kind="benchmark.event", actor=ACTOR, payload={"i": i}, now=now - tail_age
        )

    result = ledger_verify(tenant_id=tenant.pk, now=now)

    assert result.ok is not stopped
    if stopped:
        assert result.first_broken_seq == 4
        assert result.problem.startswith("entries 4-5 are not anchored")
        assert result.problem.endswith("anchoring stopped")
