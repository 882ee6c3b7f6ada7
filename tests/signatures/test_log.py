"""The letter's transparency log in Django: created when the letter opens,
appended to by log_append, read by the selectors and served under
/log/<slug>/ (C2SP tlog-tiles). Independent checks of the same data: Go's
implementation (test_log_go.py) and clients/verify.py (test_verify_client.py).
"""

from __future__ import annotations

import base64
import hashlib
import threading

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from django.db import connection, transaction
from django.test import Client

from letters import services as letter_services
from letters.models import LetterState, Visibility
from signatures import keys, log_selectors, tlog
from signatures.errors import LetterNotOpen
from signatures.models import LetterLog, LogCheckpoint, LogEntry, LogTile
from signatures.services.log import log_append, log_open, log_origin
from tests.signatures.factories import open_letter
from tests.signatures.log_entries import signature_entries, withdrawal_of
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

pytestmark = pytest.mark.django_db


def withdrawals(n: int, start: int = 0) -> list[bytes]:
    """Cheap entries for tests of the tree (no RSA): withdrawals of made-up tokens."""
    return [tlog.withdrawal_entry(token_sha256=f"{i:064x}") for i in range(start, start + n)]


def stored_entries(letter) -> list[bytes]:
    return log_selectors.log_entries(letter)


def opened_through_the_letters_service(roles, settings):
    from organizing.models import Role

    settings.SITE_URL = "https://Organizing.Example.org:443"
    second = make_user(mfa=True)
    MembershipFactory(campaign=roles.campaign, user=second, role=Role.ORGANIZER)
    roles.campaign.approval_quorum = 2
    roles.campaign.save()
    letter = letter_services.letter_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        title="Stop the keyloggers",
        summary="",
        body="We ask leadership to stop logging our keystrokes.",
        demands=["Stop"],
    )
    letter_services.letter_submit_for_review(actor=roles.organizer, letter=letter)
    letter_services.letter_approve(actor=roles.organizer, letter=letter)
    letter_services.letter_approve(actor=second, letter=letter)
    return letter_services.letter_open(actor=roles.organizer, letter=letter)


def test_opening_a_letter_starts_its_log_with_the_letter_entry(roles, settings):
    letter = opened_through_the_letters_service(roles, settings)
    log = LetterLog.objects.get(letter=letter)
    assert log.origin == f"organizing.example.org/letters/{letter.slug}"
    assert log.size == 1
    spki = serialization.load_pem_public_key(
        letter.issuer_key.public_key_pem.encode()
    ).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert stored_entries(letter) == [
        tlog.letter_entry(text_sha256=letter.text_hash, issuer_spki_der=spki)
    ]
    checkpoint = log_selectors.latest_checkpoint(letter)
    assert (checkpoint.tree_size, checkpoint.signature_count, checkpoint.withdrawal_count) == (
        1,
        0,
        0,
    )
    text = tlog.open_note(checkpoint.note, log.verifier_key)
    assert tlog.parse_checkpoint(text) == (
        log.origin,
        1,
        tlog.leaf_hash(stored_entries(letter)[0]),
    )
    assert bytes(checkpoint.root_hash) == tlog.leaf_hash(stored_entries(letter)[0])


@pytest.mark.parametrize(
    ("site_url", "origin"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000/letters/x"),
        ("http://example.org:80", "example.org/letters/x"),
        ("https://example.org:8443/", "example.org:8443/letters/x"),
        ("https://EXAMPLE.org", "example.org/letters/x"),
        ("http://[::1]:8730", "[::1]:8730/letters/x"),
    ],
)
def test_origin_is_the_site_host_and_the_letter_path(settings, site_url, origin):
    settings.SITE_URL = site_url

    class Named:
        slug = "x"
        visibility = "public"
        unlisted_token = ""

    assert log_origin(Named()) == origin


def test_an_unlisted_letters_origin_names_it_without_its_link_key(settings):
    """The origin names the log's key, which the petition PDF prints."""
    settings.SITE_URL = "https://example.org"

    class Unlisted:
        slug = "stop-logging-s3cr3tt0k3n"
        visibility = "unlisted"
        unlisted_token = "s3cr3tt0k3n"

    assert log_origin(Unlisted()) == "example.org/letters/stop-logging"


def test_log_open_is_idempotent_and_needs_the_issuer_key(roles):
    letter = open_letter(roles.campaign)
    log = LetterLog.objects.get(letter=letter)
    assert log_open(letter=letter).public_key == log.public_key
    assert LogEntry.objects.filter(letter=letter).count() == 1
    assert LogCheckpoint.objects.filter(letter=letter).count() == 1
    keyless = open_letter(roles.campaign, with_key=False)
    with pytest.raises(LetterNotOpen):
        log_open(letter=keyless)
    assert not LetterLog.objects.filter(letter=keyless).exists()


def test_the_log_key_is_stored_encrypted_and_bound_to_its_letter(roles, settings):
    letter = open_letter(roles.campaign)
    log = LetterLog.objects.get(letter=letter)
    blob, public = bytes(log.private_key_encrypted), bytes(log.public_key)
    key = keys.decrypt_log_key(blob, letter_id=letter.pk, public_key=public)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    assert raw not in blob and raw[:16] not in blob
    with pytest.raises(InvalidTag):
        keys.decrypt_log_key(blob, letter_id=letter.pk + 1, public_key=public)
    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-0123456789"
    with pytest.raises(InvalidTag):
        keys.decrypt_log_key(blob, letter_id=letter.pk, public_key=public)


def test_appends_grow_one_tree_with_signed_checkpoints_and_counts(roles):
    letter = open_letter(roles.campaign)
    signed = signature_entries(letter, 3)
    batches = [withdrawals(300), signed, [withdrawal_of(signed[1])], withdrawals(255, 300)]
    sizes = [1]
    for entries in batches:
        checkpoint = log_append(letter=letter, entries=entries)
        sizes.append(sizes[-1] + len(entries))
        assert checkpoint.tree_size == sizes[-1]
    assert (checkpoint.signature_count, checkpoint.withdrawal_count, checkpoint.count) == (
        3,
        556,
        -553,
    )
    entries = stored_entries(letter)
    assert entries[1:] == [entry for batch in batches for entry in batch]
    hashes = [tlog.leaf_hash(entry) for entry in entries]
    log = LetterLog.objects.get(letter=letter)
    assert log.size == sizes[-1] == 560
    # Every checkpoint published is signed and is the root of a prefix.
    published = LogCheckpoint.objects.filter(letter=letter).order_by("tree_size")
    assert [c.tree_size for c in published] == sizes
    for row in published:
        text = tlog.open_note(row.note, log.verifier_key)
        root = tlog.root_from_leaves(hashes[: row.tree_size])
        assert tlog.parse_checkpoint(text) == (log.origin, row.tree_size, root)
        assert bytes(row.root_hash) == root
        assert log_selectors.log_root(letter=letter, tree_size=row.tree_size) == root
    # The stored tiles are those of the tree of 560 leaves.
    tiles = {(t.level, t.index): bytes(t.hashes) for t in LogTile.objects.filter(letter=letter)}
    assert tiles == {
        (0, 0): b"".join(hashes[:256]),
        (0, 1): b"".join(hashes[256:512]),
        (0, 2): b"".join(hashes[512:560]),
        (1, 0): tlog.root_from_leaves(hashes[:256]) + tlog.root_from_leaves(hashes[256:512]),
    }


def test_proofs_from_the_selectors_verify(roles):
    letter = open_letter(roles.campaign)
    for size in (40, 300, 9, 400):
        log_append(letter=letter, entries=withdrawals(size, start=size * 1000))
    hashes = [tlog.leaf_hash(entry) for entry in stored_entries(letter)]
    for tree_size in (1, 2, 41, 256, 341, 350, 750):
        root = tlog.root_from_leaves(hashes[:tree_size])
        for index in {0, tree_size // 2, tree_size - 1}:
            proof = log_selectors.log_inclusion_proof(
                letter=letter, index=index, tree_size=tree_size
            )
            assert tlog.verify_inclusion(index, tree_size, hashes[index], proof, root)
        for old_size in {1, tree_size // 3 or 1, tree_size}:
            proof = log_selectors.log_consistency_proof(
                letter=letter, old_size=old_size, new_size=tree_size
            )
            old_root = tlog.root_from_leaves(hashes[:old_size])
            assert tlog.verify_consistency(old_size, tree_size, old_root, root, proof)
    with pytest.raises(ValueError):
        log_selectors.log_inclusion_proof(letter=letter, index=0, tree_size=751)
    with pytest.raises(ValueError):
        log_selectors.log_inclusion_proof(letter=letter, index=750, tree_size=750)


def test_an_append_rolled_back_with_its_batch_leaves_the_log_as_it_was(roles):
    letter = open_letter(roles.campaign)
    log_append(letter=letter, entries=withdrawals(10))
    before = (
        stored_entries(letter),
        {(t.level, t.index): bytes(t.hashes) for t in LogTile.objects.filter(letter=letter)},
        LogCheckpoint.objects.filter(letter=letter).count(),
    )

    class SealFailed(Exception):
        pass

    with pytest.raises(SealFailed), transaction.atomic():
        log_append(letter=letter, entries=withdrawals(300, start=10))
        raise SealFailed
    after = (
        stored_entries(letter),
        {(t.level, t.index): bytes(t.hashes) for t in LogTile.objects.filter(letter=letter)},
        LogCheckpoint.objects.filter(letter=letter).count(),
    )
    assert after == before
    assert LetterLog.objects.get(letter=letter).size == 11


@pytest.mark.parametrize(
    "entry",
    [
        b'{"kind":"letter","text_sha256":"00"}',
        b'{"token_sha256":"00","kind":"withdrawal"}',  # keys not sorted
        b'{"kind": "withdrawal","token_sha256":"00"}',  # a space
        b'{"kind":"other"}',
        b"[1]",
        b"not json",
        "{}",
        b'{"kind":"withdrawal","x":"' + b"a" * 65536 + b'"}',
    ],
)
def test_append_refuses_what_is_not_a_signature_or_withdrawal_entry(roles, entry):
    letter = open_letter(roles.campaign)
    with pytest.raises(ValueError):
        log_append(letter=letter, entries=[*withdrawals(2), entry])
    assert LetterLog.objects.get(letter=letter).size == 1
    assert LogEntry.objects.filter(letter=letter).count() == 1


def test_an_empty_append_publishes_nothing_new(roles):
    letter = open_letter(roles.campaign)
    first = log_selectors.latest_checkpoint(letter)
    assert log_append(letter=letter, entries=[]).pk == first.pk
    assert LogCheckpoint.objects.filter(letter=letter).count() == 1


def test_append_opens_the_log_of_a_letter_opened_before_logs_existed(roles):
    letter = open_letter(roles.campaign)
    LogCheckpoint.objects.filter(letter=letter).delete()
    LogTile.objects.filter(letter=letter).delete()
    LogEntry.objects.filter(letter=letter).delete()
    LetterLog.objects.filter(letter=letter).delete()
    checkpoint = log_append(letter=letter, entries=withdrawals(2))
    assert checkpoint.tree_size == 3
    assert stored_entries(letter)[0].startswith(b'{"issuer_key":')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_are_serialized(roles):
    letter = open_letter(roles.campaign)
    barrier = threading.Barrier(4)
    errors = []

    def append(start: int) -> None:
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                log_append(letter=letter, entries=withdrawals(100, start=start))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append, args=(i * 1000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    entries = stored_entries(letter)
    assert len(entries) == 401
    sizes = list(
        LogCheckpoint.objects.filter(letter=letter)
        .order_by("tree_size")
        .values_list("tree_size", flat=True)
    )
    assert sizes == [1, 101, 201, 301, 401]
    log = LetterLog.objects.get(letter=letter)
    hashes = [tlog.leaf_hash(entry) for entry in entries]
    for row in LogCheckpoint.objects.filter(letter=letter):
        assert bytes(row.root_hash) == tlog.root_from_leaves(hashes[: row.tree_size])
        tlog.open_note(row.note, log.verifier_key)


# --- endpoints ---------------------------------------------------------------------------


@pytest.fixture
def logged(roles):
    letter = open_letter(roles.campaign, slug="logged-letter")
    log_append(letter=letter, entries=withdrawals(299))
    log_append(letter=letter, entries=withdrawals(300, start=299))
    return letter  # 600 entries: tiles 0/000, 0/001 full, 0/002.p/88, 1/000.p/2


ENDPOINTS = [
    "checkpoint",
    "checkpoints",
    "tile/0/000",
    "tile/0/002.p/88",
    "tile/1/000.p/2",
    "tile/entries/001",
    "tile/entries/002.p/88",
]


def test_every_role_gets_the_same_public_log(logged, roles, client_for):
    answers = {}
    for role, user in roles.users().items():
        client = client_for(user)
        for endpoint in ENDPOINTS:
            response = client.get(f"/log/{logged.slug}/{endpoint}")
            assert response.status_code == 200, (role, endpoint)
            answers.setdefault(endpoint, set()).add(response.content)
    assert all(len(bodies) == 1 for bodies in answers.values())


def test_endpoints_serve_the_c2sp_resources(logged):
    client = Client()
    log = LetterLog.objects.get(letter=logged)
    entries = stored_entries(logged)
    hashes = [tlog.leaf_hash(entry) for entry in entries]

    response = client.get(f"/log/{logged.slug}/checkpoint")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=5"
    text = tlog.open_note(response.content.decode(), log.verifier_key)
    assert tlog.parse_checkpoint(text) == (log.origin, 600, tlog.root_from_leaves(hashes))

    response = client.get(f"/log/{logged.slug}/tile/0/001")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.content == b"".join(hashes[256:512])
    assert client.get(f"/log/{logged.slug}/tile/0/002.p/88").content == b"".join(hashes[512:])
    # A partial tile of an earlier size is the first hashes of the tile, for good.
    assert client.get(f"/log/{logged.slug}/tile/0/002.p/44").content == b"".join(hashes[512:556])
    level1 = client.get(f"/log/{logged.slug}/tile/1/000.p/2").content
    assert level1 == tlog.root_from_leaves(hashes[:256]) + tlog.root_from_leaves(hashes[256:512])
    bundle = client.get(f"/log/{logged.slug}/tile/entries/002.p/88").content
    assert tlog.parse_entry_bundle(bundle) == entries[512:]
    assert (
        tlog.parse_entry_bundle(client.get(f"/log/{logged.slug}/tile/entries/000").content)
        == (entries[:256])
    )

    listed = client.get(f"/log/{logged.slug}/checkpoints").json()
    assert [row["size"] for row in listed] == [1, 300, 600]
    for row in listed:
        assert base64.b64decode(row["root"]) == tlog.root_from_leaves(hashes[: row["size"]])
        assert tlog.open_note(row["note"], log.verifier_key)
        assert row["time"].endswith(":00:00+00:00")  # to the hour
    assert [r["size"] for r in client.get(f"/log/{logged.slug}/checkpoints?after=1").json()] == [
        300,
        600,
    ]
    assert client.get(f"/log/{logged.slug}/checkpoints?after=600").json() == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("tile/0/002", 404),  # not full yet
        ("tile/0/002.p/89", 404),  # beyond the tree
        ("tile/0/003.p/1", 404),
        ("tile/1/000", 404),
        ("tile/1/000.p/3", 404),
        ("tile/2/000.p/1", 404),
        ("tile/entries/002", 404),
        ("tile/entries/002.p/89", 404),
        ("tile/0/0", 404),  # not a C2SP path
        ("tile/0/x000/001", 404),
        ("tile/0/000.p/256", 404),
        ("tile/64/000", 404),
        ("tile/data/000", 404),
        ("checkpoints?after=-1", 400),
        ("checkpoints?after=x", 400),
        ("checkpoints?after=" + "9" * 30, 400),
    ],
)
def test_what_the_log_does_not_have_is_a_plain_4xx(logged, path, status):
    response = Client().get(f"/log/{logged.slug}/{path}")
    assert response.status_code == status
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response.content.strip()


def test_only_reads_are_allowed(logged):
    for endpoint in ENDPOINTS:
        response = Client().post(f"/log/{logged.slug}/{endpoint}")
        assert response.status_code == 405
        assert Client().head(f"/log/{logged.slug}/{endpoint}").status_code == 200


def test_letters_that_are_not_public_have_no_public_log(roles, client_for):
    draft = open_letter(roles.campaign, state=LetterState.DRAFT, slug="draft-letter")
    log_open(letter=draft)  # even if a draft had one, it would not be shown
    unlisted = open_letter(roles.campaign, slug="unlisted-letter", visibility=Visibility.UNLISTED)
    token = unlisted.unlisted_token
    for role, user in roles.users().items():
        client = client_for(user)
        for endpoint in ("checkpoint", "checkpoints", "tile/0/000.p/1", "tile/entries/000.p/1"):
            assert client.get(f"/log/draft-letter/{endpoint}").status_code == 404, role
            assert client.get(f"/log/unlisted-letter/{endpoint}").status_code == 404, role
            wrong = client.get(f"/log/unlisted-letter/{endpoint}?key=wrong")
            assert wrong.status_code == 404, role
            response = client.get(f"/log/unlisted-letter/{endpoint}?key={token}")
            assert response.status_code == 200, role
            assert response["Cache-Control"].startswith("private, ")
        assert client.get("/log/no-such-letter/checkpoint").status_code == 404


def test_a_letter_without_a_log_says_so(roles):
    letter = open_letter(roles.campaign, with_key=False, slug="keyless")
    for endpoint in ("checkpoint", "checkpoints", "tile/0/000.p/1"):
        response = Client().get(f"/log/keyless/{endpoint}")
        assert response.status_code == 404
    assert Client().get(f"/api/v1/letters/{letter.slug}").json()["log"] is None


def test_the_letter_api_names_the_log_and_its_key(logged):
    body = Client().get(f"/api/v1/letters/{logged.slug}").json()
    log = LetterLog.objects.get(letter=logged)
    assert body["log"] == {
        "origin": log.origin,
        "verifier_key": log.verifier_key,
        "checkpoint_url": f"/log/{logged.slug}/checkpoint",
        # The checkpoint whose count the letter's pages show.
        "tree_size": LogCheckpoint.objects.filter(letter=logged).latest("tree_size").tree_size,
    }
    note = Client().get(body["log"]["checkpoint_url"]).content.decode()
    assert tlog.open_note(note, body["log"]["verifier_key"]).startswith(log.origin + "\n")
    name, key_id, public = tlog.parse_verifier_key(body["log"]["verifier_key"])
    assert (name, public) == (log.origin, bytes(log.public_key))
    assert key_id == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
