"""The signing endpoints' hot path: the letter kept per process, few statements.

bench/signing.py measures these endpoints; these tests keep their shape (how
many statements a request runs) from regressing, and check that a kept copy
of the letter, however stale, changes no answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from letters.models import Letter, LetterState, Visibility
from signatures import api as signing_api
from signatures.models import Attestation, PendingSignature, Signature
from signatures.services.eligibility import invite_codes_create
from tests.signatures.factories import open_letter
from tests.signatures.helpers import SigningClient, post_json


@pytest.fixture
def no_rate_limits(settings):
    settings.SIGNATURES_RATE_LIMITS = dict.fromkeys(["token", "invite_code", "signature"])


def cached_letter_for_signing(slug: str):
    """The copy of the letter at `slug` this process keeps, or None."""
    kept = signing_api._kept_letters.get(slug)
    return kept[1] if kept else None


def test_an_open_letter_without_its_key_refuses_with_410(roles, no_rate_limits):
    keyless = open_letter(roles.campaign, with_key=False)
    (code,) = invite_codes_create(actor=None, campaign=roles.campaign, count=1)
    path = f"/api/v1/letters/{keyless.slug}"
    proof = {"type": "invite_code", "code": code}
    status, body = post_json(Client(), f"{path}/tokens", {"blinded_msg": "AAAA", "proof": proof})
    assert (status, body["error"]) == (410, "letter_not_open")
    sign = {"token": "AAAA", "signature": "AAAA", "pseudonym": "Quiet Heron"}
    status, body = post_json(Client(), f"{path}/signatures", sign)
    assert (status, body["error"]) == (410, "letter_not_open")
    assert cached_letter_for_signing(keyless.slug) is None


def test_signing_posts_honour_visibility_and_state(letter):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    _prepared, blinded, _inv = api.blind()
    from signatures.services.common import b64url_encode

    body = {"blinded_msg": b64url_encode(blinded), "proof": {"type": "invite_code", "code": code}}
    Letter.objects.filter(pk=letter.pk).update(visibility=Visibility.UNLISTED)
    path = f"/api/v1/letters/{letter.slug}/tokens"
    assert post_json(Client(), path, body)[0] == 404
    assert post_json(Client(), path + "?key=wrong", body)[0] == 404
    Letter.objects.filter(pk=letter.pk).update(state=LetterState.CLOSED)
    assert post_json(Client(), f"{path}?key={letter.unlisted_token}", body)[0] == 410
    Letter.objects.filter(pk=letter.pk).update(state=LetterState.DRAFT)
    assert post_json(Client(), f"{path}?key={letter.unlisted_token}", body)[0] == 404


def test_a_new_required_statement_applies_at_once(letter, attestation_ids, no_rate_limits):
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    tok = api.token({"type": "invite_code", "code": code})
    Attestation.objects.create(campaign=letter.campaign, text="New", position=5)
    status, body = api.sign(tok, attestations=attestation_ids)
    assert status == 403 and "affirm" in body["message"]


def _statements(queries) -> list[str]:
    """First words of the captured statements, without pytest-django's
    savepoints (tests run in a transaction; production runs in autocommit)."""
    words = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    return [w for w in words if "SAVEPOINT" not in w and w != "RELEASE"]


def test_redemption_is_one_insert_once_the_letter_is_kept(
    letter, attestation_ids, no_rate_limits, settings
):
    # Production: the signature waits for its batch (services.batches).
    settings.SIGNATURE_BATCHES = "scheduled"
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    # The token request loads the letter and keeps it in this process.
    tok = api.token({"type": "invite_code", "code": code})
    assert cached_letter_for_signing(letter.slug).pk == letter.pk
    with CaptureQueriesContext(connection) as queries:
        status, _body = api.sign(tok, attestations=attestation_ids)
    assert status == 201
    assert _statements(queries) == ["INSERT"]
    assert PendingSignature.objects.filter(letter=letter).count() == 1


def test_a_cold_process_reads_the_letter_once(letter, attestation_ids, no_rate_limits):
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=2)
    api = SigningClient(Client(), letter.slug)
    with CaptureQueriesContext(connection) as queries:
        api.token({"type": "invite_code", "code": codes[0]})
        api.token({"type": "invite_code", "code": codes[1]})
    # The letter and its active statements, once.
    assert _statements(queries) == ["SELECT", "SELECT", "INSERT", "INSERT"]


def test_an_email_code_request_reads_the_letter_once(letter, no_rate_limits):
    """The email route needs a fresh letter (its failures write): one read,
    whether or not this process keeps the letter."""
    from tests.signatures.conftest import last_code

    api = SigningClient(Client(), letter.slug)
    for address, kept in (("ann@example.com", False), ("bo@example.com", True)):
        assert (cached_letter_for_signing(letter.slug) is not None) is kept
        post_json(Client(), f"/api/v1/letters/{letter.slug}/email-codes", {"email": address})
        proof = {"type": "email_code", "email": address, "code": last_code(address)}
        with CaptureQueriesContext(connection) as queries:
            status, _body, tok = api.request_token(proof)
        assert status == 200 and tok is not None
        letter_reads = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].startswith("SELECT") and "letters_letter" in q["sql"]
        ]
        assert len(letter_reads) == 1, address


@pytest.mark.django_db(transaction=True)
def test_redemption_in_autocommit_has_no_begin_or_commit(roles, no_rate_limits, settings):
    settings.SIGNATURE_BATCHES = "scheduled"
    Attestation.objects.create(campaign=roles.campaign, text="I work here")
    letter = open_letter(roles.campaign)
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    tok = api.token({"type": "invite_code", "code": code})
    ids = list(Attestation.objects.filter(campaign=roles.campaign).values_list("id", flat=True))
    with CaptureQueriesContext(connection) as queries:
        assert api.sign(tok, attestations=ids)[0] == 201
        # The double spend is still a 409 without the transaction block, and
        # a conflict is not retried on a fresh read.
        assert api.sign(tok, attestations=ids, pseudonym="Again")[0] == 409
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The second INSERT skips the spent token (ON CONFLICT DO NOTHING); four
    # reads then explain why: the token among sealed and waiting signatures,
    # the letter, its statements.
    assert statements == ["INSERT", "INSERT", "SELECT", "SELECT", "SELECT", "SELECT"]
    assert PendingSignature.objects.filter(letter=letter).count() == 1


# --- a kept letter can be stale; the guarded INSERT and the retry make up for it -------


@pytest.fixture
def kept(letter, attestation_ids, no_rate_limits):
    """A letter this process keeps, and a token for it."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=3)
    api = SigningClient(Client(), letter.slug)
    tok = api.token({"type": "invite_code", "code": codes[0]})
    assert cached_letter_for_signing(letter.slug) is not None
    return api, tok, codes[1:]


def test_kept_letter_closed_meanwhile_refuses_with_410(letter, attestation_ids, kept):
    api, tok, codes = kept
    Letter.objects.filter(pk=letter.pk).update(state=LetterState.CLOSED)
    status, body = api.sign(tok, attestations=attestation_ids)
    assert status == 410 and body["error"] == "letter_not_open"
    assert api.request_token({"type": "invite_code", "code": codes[0]})[0] == 410
    assert not Signature.objects.exists()
    assert cached_letter_for_signing(letter.slug) is None


def test_kept_letter_past_its_deadline_refuses_with_410(letter, attestation_ids, kept):
    api, tok, _codes = kept
    past = datetime.now(UTC) - timedelta(minutes=1)
    Letter.objects.filter(pk=letter.pk).update(deadline=past)
    assert api.sign(tok, attestations=attestation_ids)[0] == 410
    assert not Signature.objects.exists()


def test_kept_letter_moved_to_a_secret_address_is_gone_from_the_old_one(
    letter, attestation_ids, kept
):
    api, tok, codes = kept
    Letter.objects.filter(pk=letter.pk).update(
        visibility=Visibility.UNLISTED, slug=letter.slug + "-secret", unlisted_token="s3cret"
    )
    assert api.sign(tok, attestations=attestation_ids)[0] == 404
    assert api.request_token({"type": "invite_code", "code": codes[0]})[0] == 404
    assert not Signature.objects.exists()


def test_kept_letter_made_unlisted_needs_the_key(letter, attestation_ids, kept):
    api, tok, _codes = kept
    Letter.objects.filter(pk=letter.pk).update(
        visibility=Visibility.UNLISTED, unlisted_token="s3cret"
    )
    path = f"/api/v1/letters/{letter.slug}/signatures"
    payload = tok.payload(attestations=attestation_ids)
    assert post_json(Client(), path + "?key=wrong", payload)[0] == 404
    assert post_json(Client(), path + "?key=s3cret", payload)[0] == 201


def test_kept_unlisted_letter_made_public_needs_no_key(letter, attestation_ids, kept):
    api, tok, codes = kept
    # As if the copy was loaded while the letter was unlisted, and the
    # letter has been made public since.
    cached_letter_for_signing(letter.slug).visibility = Visibility.UNLISTED
    # Requests without a key are answered from a fresh read, not refused.
    assert api.sign(tok, attestations=attestation_ids)[0] == 201
    cached_letter_for_signing(letter.slug).visibility = Visibility.UNLISTED
    assert api.request_token({"type": "invite_code", "code": codes[0]})[0] == 200


def test_statement_withdrawn_meanwhile_is_not_required(letter, attestation_ids, kept):
    api, tok, _codes = kept
    Attestation.objects.filter(pk=attestation_ids[0]).update(active=False)
    # The kept copy still requires both; the fresh read does not.
    status, body = api.sign(tok, attestations=attestation_ids[1:])
    assert status == 201, body


def test_statement_added_meanwhile_is_required(letter, attestation_ids, kept):
    api, tok, _codes = kept
    new = Attestation.objects.create(campaign=letter.campaign, text="New", position=5)
    status, body = api.sign(tok, attestations=attestation_ids)
    assert status == 403 and "affirm" in body["message"]
    assert api.sign(tok, attestations=[*attestation_ids, new.pk])[0] == 201


def test_invite_code_revoked_meanwhile_is_refused(letter, kept):
    from signatures.services.eligibility import invite_code_revoke

    api, _tok, codes = kept
    assert invite_code_revoke(actor=None, campaign=letter.campaign, code=codes[0])
    status, body, _t = api.request_token({"type": "invite_code", "code": codes[0]})
    assert status == 403 and "revoked" in body["message"]
    assert api.request_token({"type": "invite_code", "code": codes[1]})[0] == 200


def test_refused_insert_explains_itself_when_everything_holds_again(letter):
    from signatures.errors import Conflict
    from signatures.services.common import refusal

    assert isinstance(refusal(letter, visibility_key=""), Conflict)


def test_signing_fault_takes_the_issuance_back(letter, no_rate_limits, monkeypatch):
    from signatures import blindrsa
    from signatures.models import Issuance

    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)

    def fault(key, blinded):
        raise blindrsa.SigningFailure("s^e != m")

    with monkeypatch.context() as patch:
        patch.setattr(blindrsa, "blind_sign", fault)
        with pytest.raises(blindrsa.SigningFailure):
            api.request_token({"type": "invite_code", "code": code})
    assert not Issuance.objects.exists()
    # The person can ask again.
    assert api.request_token({"type": "invite_code", "code": code})[0] == 200


def test_redemption_limit_counts_failures_only(letter, attestation_ids, settings):
    settings.SIGNATURES_RATE_LIMITS = {"token": None, "signature": (2, 60)}
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=4)
    api = SigningClient(Client(), letter.slug)
    tokens = [api.token({"type": "invite_code", "code": code}) for code in codes]
    # More successes than the limit: each spends a token.
    for tok in tokens[:3]:
        assert api.sign(tok, attestations=attestation_ids)[0] == 201
    # Failures count: the third one is over the limit.
    assert api.sign(tokens[0], attestations=attestation_ids)[0] == 409
    assert api.sign(tokens[0], attestations=attestation_ids)[0] == 409
    status, body = api.sign(tokens[0], attestations=attestation_ids)
    assert status == 429 and body["error"] == "rate_limited"
    # A valid token still signs.
    assert api.sign(tokens[3], attestations=attestation_ids)[0] == 201


def test_insert_row_stores_what_the_orm_would(letter):
    """insert_row() writes a row from its values, without a model instance:
    the stored row must not tell the difference."""
    import uuid

    from django.db import IntegrityError, transaction

    from signatures.guarded_insert import insert_row
    from signatures.models import Issuance

    fields = {
        "pseudonym": "Quiet Heron",
        "public_name": "Ann Example",
        "reveal_at": 7,
        "department": "Support",
        "location": "Lyon",
        "comment": "Two\nlines",
        "attestations": [3, 1],
    }
    ours_id = uuid.uuid4()
    values = {
        "id": ours_id,
        "letter_id": letter.pk,
        "token_hash": "a" * 64,
        "receipt_hash": "b" * 64,
    }
    assert insert_row(Signature, values | fields)
    theirs = Signature.objects.create(
        letter=letter, token_hash="c" * 64, receipt_hash="d" * 64, **fields
    )
    stored = Signature.objects.in_bulk([ours_id, theirs.pk])
    names = [f.attname for f in Signature._meta.concrete_fields]
    skip = {"id", "token_hash", "receipt_hash"}

    def row(obj):
        return {n: getattr(obj, n) for n in names if n not in skip}

    assert row(stored[ours_id]) == row(stored[theirs.pk])
    assert stored[ours_id].signed_hour.minute == 0
    assert stored[ours_id].attestations == [3, 1]
    assert stored[ours_id].withdrawn is False
    # Fields left out get their defaults, a random id among them.
    assert insert_row(Issuance, {"letter_id": letter.pk, "identity_hmac": "e" * 64})
    issuance = Issuance.objects.get(identity_hmac="e" * 64)
    assert isinstance(issuance.id, uuid.UUID) and issuance.is_alias is False
    assert issuance.issued_on == Issuance._meta.get_field("issued_on").get_default()
    # The constraints still hold: the same token hash is refused, or, when
    # the caller expects the conflict, skipped.
    again = values | fields | {"id": uuid.uuid4(), "receipt_hash": "f" * 64}
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_row(Signature, again)
    assert not insert_row(Signature, again, unless_exists=("letter_id", "token_hash"))
    assert not Signature.objects.filter(pk=again["id"]).exists()


@pytest.mark.django_db(transaction=True)
def test_invite_issuance_in_autocommit_has_no_savepoint(roles, no_rate_limits):
    from signatures.models import Issuance

    letter = open_letter(roles.campaign)
    (code,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    api = SigningClient(Client(), letter.slug)
    with CaptureQueriesContext(connection) as queries:
        status, _body, tok = api.request_token({"type": "invite_code", "code": code})
    assert status == 200 and tok is not None
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    assert "SAVEPOINT" not in statements
    assert statements.count("INSERT") == 1
    # The same code again: a 409, and still one issuance.
    status, body, _tok = api.request_token({"type": "invite_code", "code": code})
    assert status == 409 and body["error"] == "already_issued"
    assert Issuance.objects.filter(letter=letter).count() == 1
    # A revoked code is refused by the same lookup.
    from signatures.services.eligibility import invite_code_revoke

    (other,) = invite_codes_create(actor=None, campaign=letter.campaign, count=1)
    assert invite_code_revoke(actor=None, campaign=letter.campaign, code=other)
    assert api.request_token({"type": "invite_code", "code": other})[0] == 403


@pytest.mark.postgres
def test_no_statement_is_prepared_on_the_server(letter, attestation_ids, no_rate_limits):
    """A pooler in transaction mode (PgBouncer) needs no setting: nothing
    runs as a prepared statement (docs/operations.md, "Scaling out")."""
    codes = invite_codes_create(actor=None, campaign=letter.campaign, count=6)
    api = SigningClient(Client(), letter.slug)
    for code in codes:
        tok = api.token({"type": "invite_code", "code": code})
        assert api.sign(tok, attestations=attestation_ids)[0] == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        assert cursor.fetchall() == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_signing_tables_take_no_lock_on_the_letter_row():
    """No database foreign key from issuances and signatures to their letter
    (models.HOT_LETTER_ROW), and no second index beside a unique hash."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = 'letters_letter'::regclass"
        )
        referencing = {name for (name,) in cursor.fetchall()}
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes "
            "WHERE tablename IN ('signatures_signature', 'signatures_invitecode')"
        )
        indexes = cursor.fetchall()
    assert "signatures_signature" not in referencing
    assert "signatures_issuance" not in referencing
    assert "signatures_emailcode" in referencing  # the others keep theirs
    assert not [d for _t, d in indexes if "pattern_ops" in d]
    unique = {(t, d.split("(")[-1].rstrip(")")) for t, d in indexes if "UNIQUE" in d}
    assert ("signatures_signature", "receipt_hash") in unique
    assert ("signatures_invitecode", "code_hmac") in unique


def test_a_letter_with_signatures_or_tokens_cannot_be_deleted(letter, attestation_ids):
    from django.db.models.deletion import ProtectedError

    from signatures.models import Issuance

    Issuance.objects.create(letter=letter, identity_hmac="f" * 64)
    with pytest.raises(ProtectedError):
        letter.delete()
    Issuance.objects.filter(letter=letter).delete()
    Signature.objects.create(
        letter=letter, token_hash="a" * 64, receipt_hash="b" * 64, pseudonym="Quiet Heron"
    )
    with pytest.raises(ProtectedError):
        letter.delete()
    assert Letter.objects.filter(pk=letter.pk).exists()


def test_receipts_and_invite_codes_stay_unique(letter):
    from django.db import IntegrityError, transaction

    from signatures.models import InviteCode

    Signature.objects.create(
        letter=letter, token_hash="a" * 64, receipt_hash="b" * 64, pseudonym="Quiet Heron"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Signature.objects.create(
            letter=letter, token_hash="c" * 64, receipt_hash="b" * 64, pseudonym="Other"
        )
    InviteCode.objects.create(campaign=letter.campaign, code_hmac="d" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        InviteCode.objects.create(campaign=letter.campaign, code_hmac="d" * 64)
