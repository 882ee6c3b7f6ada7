"""Attacks on batches (issue 15) that test_linkage.py and test_batches.py do
not make: the raw pages of the waiting table after a seal while another
transaction is open somewhere on the server, the physical order of index
entries, what pg_stat_activity and Redis keep, a backup that holds the
waiting table, withdrawals that fill a batch, and the races of a seal with a
double spend, a receipt check and a letter closing; then a stress of all of
them at once against the log's count. Docstrings in the past tense describe
what the attack found before it was fixed.

The tests run in the production configuration (SIGNATURE_BATCHES=
"scheduled"), on PostgreSQL except the withdrawal and command-line ones,
which hold on any database.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from letters.models import Letter, LetterState
from letters.services import letter_close
from letters.signals import letter_closed
from signatures.log_selectors import latest_checkpoint, log_entries
from signatures.models import PendingSignature, PendingWithdrawal, Signature
from signatures.services import batches
from signatures.services.batches import batch_seal, batches_seal_due
from signatures.services.eligibility import invite_codes_create
from tests.signatures import test_linkage
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient, post_json
from tests.support.cache_contents import cache_entries
from tests.support.postgres_log import WAIT, lock_waiters, race_with_uncommitted_row

BATCH = 8


@pytest.fixture
def scheduled(settings, letter):
    """The production configuration, batches of BATCH; no rate limits (all
    signers share the test's one address)."""
    settings.SIGNATURE_BATCHES = "scheduled"
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(
        ["token", "invite_code", "signature", "email_code", "receipt"]
    )
    letter.campaign.batch_min = BATCH
    letter.campaign.batch_interval = 1
    letter.campaign.save()
    return letter


def tokens(letter, n: int):
    """n signing tokens, one per invite code, not yet spent."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=n)
    api = SigningClient(Client(), letter.slug)
    return [api.token({"type": "invite_code", "code": code}) for code in codes]


def sign(letter, token, attestation_ids, pseudonym="Signer") -> tuple[int, dict]:
    return SigningClient(Client(), letter.slug).sign(
        token, pseudonym=pseudonym, attestations=attestation_ids
    )


def sign_in_order(letter, attestation_ids, n: int) -> list[str]:
    """n signatures, accepted one after the other; their token hashes in
    the order of arrival."""
    hashes = []
    for i, token in enumerate(tokens(letter, n)):
        status, body = sign(letter, token, attestation_ids, pseudonym=f"Signer {i}")
        assert status == 201 and body["status"] == "pending", body
        hashes.append(hashlib.sha256(token.prepared).hexdigest())
    return hashes


def other_connection(dbname: str | None = None, **options) -> psycopg.Connection:
    """A connection of another program to the same server: a backup, a
    report, another application's database."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname=dbname or settings["NAME"],
        **options,
    )


def in_thread(target, *args):
    """Run target(*args) in a thread with its own database connection;
    returns (thread, outcome dict with "value" or "error")."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as exc:  # surfaced by the caller
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def result(thread, outcome):
    thread.join(WAIT)
    assert not thread.is_alive(), "still running"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --- raw pages: what the waiting table keeps after a seal -----------------------------


def raw_tuples(table: str) -> list[tuple[int, bytes]]:
    """(xmin, data) of every tuple in the table's pages, live or dead, read
    with pageinspect as someone with the data files would."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
        (pages,) = cursor.fetchone()
        found = []
        for page in range(pages):
            cursor.execute(
                "SELECT t_xmin::text::bigint, t_data FROM heap_page_items(get_raw_page(%s, %s)) "
                "WHERE t_data IS NOT NULL",
                [table, page],
            )
            found += [(xmin, bytes(data)) for xmin, data in cursor.fetchall()]
    return found


def sealed_rows_left(hashes: list[str]) -> list[tuple[int, int]]:
    """(xmin, arrival rank) of each tuple of the waiting table that holds
    one of these token hashes."""
    left = []
    for xmin, data in raw_tuples(PendingSignature._meta.db_table):
        for rank, token_hash in enumerate(hashes):
            if token_hash.encode() in data:
                left.append((xmin, rank))
    return left


@pytest.mark.parametrize("holder_database", ["this", "another"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_open_transaction_elsewhere_leaves_no_sealed_signature_in_the_waiting_table(
    scheduled, attestation_ids, holder_database
):
    """Any transaction open on the server while the seal vacuums (a backup
    of another database, a report, a slow request) made VACUUM FULL copy the
    deleted waiting rows into the new file as "recently dead": each with its
    token hash and the xmin of its arrival, in arrival order."""
    letter = scheduled
    dbname = None if holder_database == "this" else "postgres"
    with other_connection(dbname) as holder:
        holder.execute("SELECT pg_current_xact_id()")  # a transaction id, held open
        hashes = sign_in_order(letter, attestation_ids, BATCH)
        (batch,) = batches_seal_due()
        assert batch.signatures == BATCH
        left = sealed_rows_left(hashes)
    by_xmin = [rank for _xmin, rank in sorted(left)]
    assert not left, f"the sealed batch is still in the waiting table, by xmin: {by_xmin}"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_right_after_the_seal_commits_leaves_no_sealed_signature_behind(
    scheduled, attestation_ids, monkeypatch
):
    """The vacuum ran after the commit, in the same process: a worker killed
    (or a connection lost) between the two left the batch's waiting rows in
    the pages until the next seal of any letter."""
    letter = scheduled
    hashes = sign_in_order(letter, attestation_ids, BATCH)
    # The process dies before anything after the commit runs.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda *args, **kwargs: None)
    (batch,) = batches_seal_due()
    assert batch.signatures == BATCH
    assert not sealed_rows_left(hashes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_seal_keeps_what_waits_for_other_letters(scheduled, attestation_ids):
    """The seal empties the waiting tables (TRUNCATE) and writes other
    letters' waiting rows back: nothing of theirs is lost or changed, and
    their own seal later counts every one."""
    letter = scheduled
    other = open_letter(letter.campaign, slug="other-letter")
    kept = sign_in_order(other, attestation_ids, 3)
    (token,) = tokens(other, 1)
    waiting_receipt = sign(other, token, attestation_ids)[1]["receipt"]
    sealed_one = Signature.objects.filter(letter=letter)
    before = {
        row.token_hash: (row.receipt_hash, row.pseudonym, bytes(row.token), bytes(row.signature))
        for row in PendingSignature.objects.filter(letter=other)
    }
    sign_in_order(letter, attestation_ids, BATCH)
    post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": waiting_receipt})
    (batch,) = batches_seal_due()
    assert batch.letter_slug == letter.slug and sealed_one.count() == BATCH
    after = {
        row.token_hash: (row.receipt_hash, row.pseudonym, bytes(row.token), bytes(row.signature))
        for row in PendingSignature.objects.filter(letter=other)
    }
    assert after == before and set(kept) <= set(after)
    assert PendingWithdrawal.objects.filter(letter=other).count() == 1
    (theirs,) = batches_seal_due(slug=other.slug, force=True)
    assert (theirs.signatures, theirs.withdrawals) == (4, 1)
    assert Signature.objects.filter(letter=other).counted().count() == 3


# --- raw pages: the physical order of index entries ------------------------------------


def line_pointer_offsets(raw: bytes) -> list[int]:
    """lp_off of each line pointer of a page (PostgreSQL's ItemIdData: 15
    bits offset, 2 bits flags, 15 bits length, after a 24-byte header)."""
    lower = int.from_bytes(raw[12:14], "little")
    return [int.from_bytes(raw[at : at + 4], "little") & 0x7FFF for at in range(24, lower, 4)]


def index_insertion_order(index: str, hashes: list[str]) -> list[int]:
    """The signers as their entries were placed in the index's leaf pages:
    B-tree items are kept in key order, but each new tuple is written below
    the earlier ones (free space is used from the page's end), so a higher
    offset within a page means an earlier insertion."""
    placed = []
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [index])
        (pages,) = cursor.fetchone()
        for page in range(1, pages):  # page 0 is the metapage
            cursor.execute("SELECT type FROM bt_page_stats(%s, %s)", [index, page])
            if cursor.fetchone()[0] != "l":
                continue
            cursor.execute("SELECT get_raw_page(%s, %s)", [index, page])
            offsets = line_pointer_offsets(bytes(cursor.fetchone()[0]))
            cursor.execute("SELECT itemoffset, data FROM bt_page_items(%s, %s)", [index, page])
            for item, data in cursor.fetchall():
                key = bytes.fromhex(data.replace(" ", ""))
                for rank, token_hash in enumerate(hashes):
                    if token_hash.encode() in key:
                        placed.append((page, -offsets[item - 1], rank))
    return [rank for _page, _offset, rank in sorted(placed)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_signature_index_pages_do_not_keep_the_order_of_arrival(scheduled, attestation_ids):
    """Holds: the seal inserts a batch's rows, and so their index entries, in
    random order. Two batches of test_linkage's size, for its thresholds."""
    letter = scheduled
    letter.campaign.batch_min = test_linkage.BATCH
    letter.campaign.save()
    hashes = sign_in_order(letter, attestation_ids, test_linkage.BATCH)
    batches_seal_due()
    hashes += sign_in_order(letter, attestation_ids, test_linkage.BATCH)
    batches_seal_due(force=True)
    for index, names in (("token_spent_once", hashes), ("receipt_unique", receipt_hashes(hashes))):
        order = index_insertion_order(index, names)
        assert sorted(order) == list(range(test_linkage.SIGNERS)), index
        # Batch by batch (what a seal makes public anyway), never finer.
        batch_order = [rank // test_linkage.BATCH for rank in order]
        assert batch_order == sorted(batch_order), index
        test_linkage.assert_no_better_than_chance(f"{index} leaf pages", order)


def receipt_hashes(token_hashes: list[str]) -> list[str]:
    by_token = dict(Signature.objects.values_list("token_hash", "receipt_hash"))
    return [by_token[token_hash] for token_hash in token_hashes]


# --- what the live server keeps about each connection ----------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_stat_activity_does_not_show_a_sealed_signature(scheduled, attestation_ids):
    """A web worker keeps its connection (CONN_MAX_AGE), and PostgreSQL shows
    each connection's last statement and the millisecond it started to anyone
    who can read pg_stat_activity. With Django's default client-side binding
    that statement held its values: the last signature each worker accepted,
    named by its token hash, pseudonym and receipt hash, with the time it
    arrived, still there after the seal (this test failed so).

    The production configuration binds parameters on the server
    (config/settings.py, `server_side_binding`), so the text shown is the
    statement with $1, $2 ...; nothing more is set on the connection here
    than production sets. docs/operations.md still has the operator turn
    pg_stat_activity off for the database for what remains (which statement,
    and when)."""
    letter = scheduled
    signed = tokens(letter, BATCH)
    hashes = [hashlib.sha256(token.prepared).hexdigest() for token in signed]
    receipts: list[str] = []
    done, stop = threading.Event(), threading.Event()

    def worker():  # a web worker: its connection stays open between requests
        try:
            for i, token in enumerate(signed):
                status, body = sign(letter, token, attestation_ids, pseudonym=f"Signer {i}")
                assert status == 201, body
                receipts.append(hashlib.sha256(body["receipt"].encode()).hexdigest())
        finally:
            done.set()
            stop.wait(WAIT)
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert done.wait(WAIT)
        (batch,) = batches_seal_due()
        assert batch.signatures == BATCH
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT query, query_start FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            shown = cursor.fetchall()
    finally:
        stop.set()
        thread.join(WAIT)
    assert any("signatures_pendingsignature" in query for query, _started in shown), shown
    names = [
        *((f"Signer {rank}", "pseudonym") for rank in range(BATCH)),
        *((value, "token hash") for value in hashes),
        *((value, "receipt hash") for value in receipts),
    ]
    named = [
        (what, value, started)
        for query, started in shown
        for value, what in names
        if value in query
    ]
    assert not named, f"pg_stat_activity names signer(s), with times: {named}"


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redis_holds_nothing_of_a_waiting_or_sealed_signature(settings, letter, attestation_ids):
    """Holds: during the window and after the seal, no cache key or value
    names a signature (token, its hash, receipt, its hash, id, pseudonym),
    with the production rate limits on."""
    settings.SIGNATURE_BATCHES = "scheduled"
    letter.campaign.batch_min = 3
    letter.campaign.save()
    names = []
    for i, token in enumerate(tokens(letter, 3)):
        status, body = sign(letter, token, attestation_ids, pseudonym=f"Heron {i} Quietly")
        assert status == 201, body
        status, _answer = post_json(
            Client(), "/api/v1/receipts/status", {"receipt": body["receipt"]}
        )
        assert status == 200
        names += [
            hashlib.sha256(token.prepared).hexdigest(),
            token.prepared.hex(),
            body["receipt"],
            hashlib.sha256(body["receipt"].encode()).hexdigest(),
            body["id"],
            body["id"].replace("-", ""),
            f"Heron {i} Quietly",
        ]

    def named_in_cache():
        return [
            (key, name)
            for key, value in cache_entries()
            for name in names
            if name.lower() in key.lower() or name.lower() in value.lower()
        ]

    assert cache_entries(), "the test reads an empty cache"
    assert named_in_cache() == []
    (batch,) = batches_seal_due()
    assert batch.signatures == 3
    assert named_in_cache() == []


# --- a backup that reads the waiting table ----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_signing_goes_on_while_a_backup_holds_the_waiting_table(scheduled, attestation_ids):
    """pg_dump holds an ACCESS SHARE lock on every table it dumps until it
    ends. The seal's VACUUM FULL asked for ACCESS EXCLUSIVE and waited for
    it; every redemption (its INSERT needs ROW EXCLUSIVE) then queued behind
    the vacuum: nobody could sign until the backup ended."""
    letter = scheduled
    sign_in_order(letter, attestation_ids, BATCH)
    (late,) = tokens(letter, 1)
    with other_connection(autocommit=True) as backup:
        backup.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")  # as pg_dump
        backup.execute(f"SELECT count(*) FROM {PendingSignature._meta.db_table}")  # noqa: S608
        sealing = in_thread(batches_seal_due)
        deadline = time.monotonic() + WAIT
        while sealing[0].is_alive() and not lock_waiters() and time.monotonic() < deadline:
            time.sleep(0.01)
        signing = in_thread(sign, letter, late, attestation_ids)
        signing[0].join(batches.SCHEDULED_LOCK_WAIT_MS / 1000 + 5)
        stalled = signing[0].is_alive()
        backup.execute("ROLLBACK")
        status, body = result(*signing)
        sealed_during_backup = result(*sealing)
    assert status == 201, body
    assert not stalled, "a signature waited for the backup to end"
    # The seal gave up, and the next run seals everything, the late one too.
    assert sealed_during_backup == []
    (batch,) = batches_seal_due()
    assert batch.signatures == BATCH + 1
    assert not PendingSignature.objects.exists()


# --- races with a seal ---------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_spend_racing_the_seal_is_refused_at_once(scheduled, attestation_ids):
    """A token counts as spent from its acceptance, "so a double spend is
    still refused at once" (issue 15). While a seal moves the first spend
    out of the waiting table, the second was accepted (201, a receipt),
    then silently dropped by the next seal: its receipt then names nothing."""
    letter = scheduled
    first, *others = tokens(letter, BATCH)
    status, _body = sign(letter, first, attestation_ids)
    assert status == 201
    for token in others:
        assert sign(letter, token, attestation_ids)[0] == 201

    def seal_uncommitted():
        assert batch_seal(letter=Letter.objects.get(pk=letter.pk)) is not None

    status, body = race_with_uncommitted_row(
        seal_uncommitted, lambda: sign(letter, first, attestation_ids, pseudonym="Again")
    )
    batches_seal_due(force=True)
    receipt = None
    if status == 201:
        receipt = post_json(Client(), "/api/v1/receipts/status", {"receipt": body["receipt"]})
    assert (status, body.get("error")) == (409, "already_spent"), (body, receipt)
    assert Signature.objects.filter(letter=letter).count() == BATCH


@pytest.mark.parametrize("endpoint", ["status", "withdraw"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_receipt_used_while_its_batch_seals_is_found(scheduled, attestation_ids, endpoint):
    """The receipt was looked up among sealed signatures, then among waiting
    ones: a seal committing between the two lookups made it neither, and the
    signer was told that no signature has their receipt."""
    letter = scheduled
    for token in tokens(letter, BATCH - 1):
        assert sign(letter, token, attestation_ids)[0] == 201
    (token,) = tokens(letter, 1)
    status, body = sign(letter, token, attestation_ids)
    assert status == 201
    receipt_hash = hashlib.sha256(body["receipt"].encode()).hexdigest()
    sealed = []

    def seal_after_the_first_lookup(execute, sql, params, many, context):
        found = execute(sql, params, many, context)
        if not sealed and params and receipt_hash in [str(p) for p in params]:
            sealed.append(result(*in_thread(batches_seal_due)))
        return found

    with connection.execute_wrapper(seal_after_the_first_lookup):
        status, answer = post_json(
            Client(), f"/api/v1/receipts/{endpoint}", {"receipt": body["receipt"]}
        )
    assert sealed and len(sealed[0]) == 1, "no seal between the lookups: the race was not staged"
    assert status == 200, answer


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_signature_accepted_while_the_letter_closes_is_in_the_closing_batch(
    scheduled, attestation_ids, roles
):
    """Closing seals what waits in the closing transaction. A redemption that
    read the letter open before the close committed still inserted its row
    after the close had read what waits: it stayed behind, alone, and was
    sealed later as a batch of one (after delivery, if that came first)."""
    letter = scheduled
    for token in tokens(letter, 3):
        assert sign(letter, token, attestation_ids)[0] == 201
    (late,) = tokens(letter, 1)
    sealed_in_close, go = threading.Event(), threading.Event()

    def pause(sender, *, letter, **kwargs):  # after signatures' own receiver
        sealed_in_close.set()
        go.wait(WAIT)

    letter_closed.connect(pause, dispatch_uid="test-pause-after-seal")
    try:
        closing = in_thread(
            lambda: letter_close(actor=roles.organizer, letter=Letter.objects.get(pk=letter.pk))
        )
        assert sealed_in_close.wait(WAIT)
        signing = in_thread(sign, letter, late, attestation_ids)
        deadline = time.monotonic() + 3
        while signing[0].is_alive() and not lock_waiters() and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()
        result(*closing)
        status, body = result(*signing)
    finally:
        go.set()
        letter_closed.disconnect(dispatch_uid="test-pause-after-seal")
    letter.refresh_from_db()
    assert letter.state == LetterState.CLOSED
    waiting = PendingSignature.objects.filter(letter=letter).count()
    # Refused (the letter is closed), or counted in the closing batch.
    assert status in (201, 410), body
    assert waiting == 0, f"answered {status}; {waiting} signature(s) left for a later batch"
    if status == 201:
        assert Signature.objects.filter(letter=letter).count() == 4


@pytest.mark.django_db
def test_withdrawals_do_not_fill_the_batch_that_hides_a_signature(scheduled, attestation_ids):
    """A batch was due once signatures and withdrawals together reached the
    smallest batch: someone holding the receipts of BATCH - 1 earlier
    signatures (planted signers, a few months of them) could withdraw them
    right after a colleague signed, and the next seal made public a batch
    holding that one signature alone, with the hour it arrived in."""
    letter = scheduled
    earlier = []
    for token in tokens(letter, BATCH - 1):
        status, body = sign(letter, token, attestation_ids)
        assert status == 201
        earlier.append(body["receipt"])
    batches_seal_due(force=True)  # the planted signatures, sealed long ago

    (target,) = tokens(letter, 1)
    assert sign(letter, target, attestation_ids)[0] == 201
    for receipt in earlier:
        status, _body = post_json(Client(), "/api/v1/receipts/withdraw", {"receipt": receipt})
        assert status == 200
    later = timezone.now() + timedelta(minutes=letter.campaign.batch_interval)
    sealed = batches_seal_due(now=later)
    exposed = [batch.signatures for batch in sealed if 0 < batch.signatures < BATCH]
    assert not exposed, f"a scheduled seal made public a batch of {exposed} signature(s)"


# --- everything at once ------------------------------------------------------------------


def log_counts(letter) -> tuple[Counter, list[str]]:
    kinds: Counter = Counter()
    tokens_logged = []
    for entry in log_entries(letter, start=1):
        parsed = json.loads(entry)
        kinds[parsed["kind"]] += 1
        if parsed["kind"] == "signature":
            tokens_logged.append(parsed["token"])
    return kinds, tokens_logged


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_redemptions_double_spends_withdrawals_and_seals_at_once_keep_the_log_and_rows_agreed(
    scheduled, attestation_ids
):
    """Holds: four threads sign (each token twice, the second time at once),
    one withdraws what they signed, two seal in a loop; then the last seal.
    No signature lost or counted twice, and the log agrees with the rows."""
    letter = scheduled
    per_thread = 6
    all_tokens = tokens(letter, 4 * per_thread)
    withdrawn_receipts: list[str] = []
    receipts: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    barrier = threading.Barrier(7)

    def signer(part):
        barrier.wait(WAIT)
        for token in part:
            status, body = sign(letter, token, attestation_ids)
            again, _answer = sign(letter, token, attestation_ids)
            assert status == 201, body
            assert again == 409  # refused at once, whatever seals meanwhile
            with lock:
                receipts.append(body["receipt"])

    def withdrawer():
        barrier.wait(WAIT)
        while not stop.is_set():
            with lock:
                receipt = next((r for r in receipts if r not in withdrawn_receipts), None)
                if receipt is not None and len(withdrawn_receipts) < 5:
                    withdrawn_receipts.append(receipt)
                else:
                    receipt = None
            if receipt is not None:
                status, body = post_json(
                    Client(), "/api/v1/receipts/withdraw", {"receipt": receipt}
                )
                assert status in (200, 404), body  # 404: the race fixed above
            time.sleep(0.005)

    def sealer():
        barrier.wait(WAIT)
        while not stop.is_set():
            batches_seal_due(force=True)
            time.sleep(0.01)

    signers = [
        in_thread(signer, all_tokens[i * per_thread : (i + 1) * per_thread]) for i in range(4)
    ]
    others = [in_thread(withdrawer), in_thread(sealer), in_thread(sealer)]
    try:
        for thread in signers:
            result(*thread)
    finally:
        stop.set()
    for thread in others:
        result(*thread)
    batches_seal_due(force=True)

    assert not PendingSignature.objects.exists()
    rows = list(Signature.objects.filter(letter=letter))
    assert len(rows) == len(all_tokens) == len({row.token_hash for row in rows})
    kinds, tokens_logged = log_counts(letter)
    assert kinds["signature"] == len(rows) == len(set(tokens_logged))
    withdrawn = sum(row.withdrawn for row in rows)
    assert kinds["withdrawal"] == withdrawn
    checkpoint = latest_checkpoint(letter)
    assert checkpoint.tree_size == 1 + kinds["signature"] + kinds["withdrawal"]
    assert checkpoint.count == Signature.objects.filter(letter=letter).counted().count()
    assert sorted(row.log_index for row in rows) == sorted(
        i + 1
        for i, entry in enumerate(log_entries(letter, start=1))
        if json.loads(entry)["kind"] == "signature"
    )


# --- the command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_seal_batches_refuses_a_short_name_it_cannot_read():
    """An argument that is not UTF-8 (a surrogate escape, as Python decodes
    such a command line) reached the database and raised UnicodeEncodeError."""
    with pytest.raises(CommandError):
        call_command("seal_batches", "caf\udce9")
