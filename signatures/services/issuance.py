"""Blind-token issuance: the letter's issuer key, and a blind signature in
exchange for an eligibility proof, recorded as a keyed hash of the identity
and a date (never the blinded message, never a finer time)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils.translation import gettext as _

from letters.models import Letter
from signatures import blindrsa, keys
from signatures.errors import (
    AlreadyIssued,
    BadRequest,
    ProofRejected,
    SigningError,
)
from signatures.guarded_insert import (
    insert_row,
    invite_code_condition,
    open_letter_condition,
)
from signatures.models import (
    EmailCode,
    Issuance,
    IssuerKey,
)
from signatures.services.common import (
    ISSUANCE_KEY,
    issuer_row,
    refusal,
    require_open,
)
from signatures.services.eligibility import (
    account_identities,
    email_code_claim,
    identity_hmac,
    invite_code_hmac,
    invite_code_normalize,
)
from signatures.services.log import log_open

# --- issuer keys -------------------------------------------------------------------


def issuer_key_create(*, letter: Letter, private_key=None) -> IssuerKey:
    """Create the letter's 2048-bit issuer key, unless it has one. Idempotent.

    `private_key` (a cryptography RSA key) is for tests that reuse a
    pre-generated key; production always generates a fresh one.
    """
    existing = IssuerKey.objects.filter(letter=letter).first()
    if existing is not None:
        return existing
    parsed = (
        blindrsa.IssuerKey.from_private_key(private_key)
        if private_key is not None
        else blindrsa.generate_issuer_key(2048)
    )
    if parsed.modulus_len * 8 < 2048:
        raise ValueError("issuer keys must have at least 2048 bits")
    with transaction.atomic():
        return IssuerKey.objects.create(
            letter=letter,
            key_id=parsed.key_id,
            public_key_pem=parsed.public_key_pem(),
            private_key_encrypted=keys.encrypt_private_key(
                parsed.private_key, letter_id=letter.pk, key_id=parsed.key_id
            ),
        )


def on_letter_opened(sender, *, letter, **kwargs) -> None:
    """letters.signals.letter_opened receiver: the issuer key, then the
    letter's log (whose entry 0 publishes that key). Runs inside the opening
    transaction, so a failure here rolls the opening back."""
    issuer_key_create(letter=letter)
    log_open(letter=letter)


def token_issue(
    *, letter: Letter, blinded_msg: bytes, proof, user=None, visibility_key: str | None = None
) -> bytes:
    """Check the eligibility proof, record the issuance, return the blind
    signature. If signing fails, no issuance stays recorded.

    `visibility_key` (the API passes the request's `key`) makes the recording
    statement check that the letter is still visible at this address.

    Raises BadRequest (400), ProofRejected (403), NotFound (404),
    AlreadyIssued (409), LetterNotOpen (410).
    """
    require_open(letter)
    row = issuer_row(letter)
    key = keys.loaded_issuer_key(row)
    if len(blinded_msg) != key.modulus_len:
        raise BadRequest(
            _("“blinded_msg” must be %(n)d bytes, got %(got)d.")
            % {"n": key.modulus_len, "got": len(blinded_msg)}
        )
    if int.from_bytes(blinded_msg, "big") >= key.n:
        raise BadRequest(_("“blinded_msg” is not smaller than the key's modulus."))
    if not isinstance(proof, dict):
        raise BadRequest(_("“proof” must be an object with a “type”."))
    kind = proof.get("type")
    if kind not in ("email_code", "invite_code", "account"):
        raise BadRequest(_("“proof.type” must be “email_code”, “invite_code” or “account”."))
    if kind == "email_code" and not letter.campaign.allowed_domains:
        raise ProofRejected(_("This campaign does not verify by work email."))
    if kind == "invite_code":
        return _token_issue_by_invite_code(
            letter=letter,
            key=key,
            blinded_msg=blinded_msg,
            code=proof.get("code"),
            visibility_key=visibility_key,
        )

    # The code check and the issuance are one transaction. A failed code check
    # still commits its attempt counter, so it is returned, not raised, inside.
    failure: SigningError | None = None
    blind_sig = b""
    with transaction.atomic():
        hmacs: list[str] = []
        try:
            hmacs = _proof_identity_hmacs(letter=letter, kind=kind, proof=proof, user=user)
        except ProofRejected as exc:
            failure = exc
        if failure is None:
            open_letter = open_letter_condition(letter, visibility_key=visibility_key)
            try:
                # Only an email-code claim has a write (its attempt counter)
                # that must outlive a conflict here.
                with transaction.atomic(savepoint=kind == "email_code"):
                    for index, value in enumerate(hmacs):
                        issuance = {
                            "letter_id": letter.pk,
                            "identity_hmac": value,
                            "is_alias": index > 0,
                        }
                        if not insert_row(
                            Issuance, issuance, only_if=[open_letter], unless_exists=ISSUANCE_KEY
                        ):
                            raise refusal(
                                letter,
                                visibility_key=visibility_key,
                                taken=_issued(letter, value),
                            )
            except SigningError as exc:
                failure = exc
            else:
                if kind == "email_code":
                    # A used code is deleted with the issuance it bought:
                    # the row (an HMAC of the address and an expiry to the
                    # second) need not wait for its expiry on the server.
                    EmailCode.objects.filter(letter=letter, email_hmac=hmacs[0]).delete()
                # Raises (and so rolls the issuance back) only on a fault.
                blind_sig = blindrsa.blind_sign(key, blinded_msg)
    if failure is not None:
        raise failure
    return blind_sig


def _issued(letter: Letter, identity: str) -> AlreadyIssued | None:
    """AlreadyIssued if this identity holds a token for the letter."""
    if not Issuance.objects.filter(letter_id=letter.pk, identity_hmac=identity).exists():
        return None
    return AlreadyIssued(
        _("You already received a signing token for this letter. Each person signs once.")
    )


def _token_issue_by_invite_code(*, letter, key, blinded_msg, code, visibility_key) -> bytes:
    """An invite-code issuance in one statement: the INSERT itself checks
    that the letter is open (and visible) and the code valid and unrevoked,
    and the unique (letter, identity) constraint makes it skip a second token,
    so concurrent requests cannot both succeed and nothing is read beforehand.

    The blind signature is made after the row is recorded and only returned
    if it was; should signing fail (a fault), the row is deleted again so the
    person can ask once more.
    """
    code_hmac = invite_code_hmac(invite_code_normalize(code))
    identity = identity_hmac(letter.pk, f"invite:{code_hmac}")
    issuance_id = uuid.uuid4()
    inserted = insert_row(
        Issuance,
        {"id": issuance_id, "letter_id": letter.pk, "identity_hmac": identity},
        only_if=[
            open_letter_condition(letter, visibility_key=visibility_key),
            invite_code_condition(letter, code_hmac),
        ],
        unless_exists=ISSUANCE_KEY,
    )
    if not inserted:
        raise refusal(
            letter,
            visibility_key=visibility_key,
            code_hmac=code_hmac,
            taken=_issued(letter, identity),
        )
    try:
        return blindrsa.blind_sign(key, blinded_msg)
    except BaseException:
        Issuance.objects.filter(pk=issuance_id).delete()
        raise


def _proof_identity_hmacs(*, letter: Letter, kind: str, proof: dict, user) -> list[str]:
    """Identity HMACs an email-code or account proof establishes (first one
    counted); invite codes take _token_issue_by_invite_code."""
    if kind == "email_code":
        return [email_code_claim(letter=letter, email=proof.get("email"), code=proof.get("code"))]
    identities = account_identities(letter=letter, user=user)
    return [identity_hmac(letter.pk, identity) for identity in identities]
