"""Redemption: a token and its signature become a signature of the letter,
recorded under its token's hash; the token is spent in the same statement
that checks the letter is open (a guarded INSERT)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from letters.models import Letter
from signatures import blindrsa, keys
from signatures.errors import (
    AlreadySpent,
    BadRequest,
    ProofRejected,
)
from signatures.guarded_insert import (
    insert_row,
    open_letter_condition,
    statements_condition,
    token_unsealed_condition,
)
from signatures.models import (
    COMMENT_MAX,
    GROUP_MAX,
    NAME_MAX,
    PSEUDONYM_MAX,
    Attestation,
    PendingSignature,
    Signature,
)
from signatures.services import batches
from signatures.services.common import (
    ATTESTATION_MAX,
    PREPARED_TOKEN_LEN,
    REVEAL_AT_MAX,
    SPENT_TOKEN_KEY,
    TEXT_HASH_LEN,
    TOKEN_CONTEXT,
    clean_text,
    issuer_row,
    refusal,
    require_open,
    sha256_hex,
)

# --- redemption --------------------------------------------------------------------

# Field labels for refusals, translated only when one is shown: translating
# them for every redemption cost it 6 gettext calls (about 25 us).
PSEUDONYM_LABEL = gettext_lazy("Pseudonym")
PSEUDONYM_REQUIRED = gettext_lazy("Choose a pseudonym: it is how your signature appears.")
PUBLIC_NAME_LABEL = gettext_lazy("Public name")
DEPARTMENT_LABEL = gettext_lazy("Department")
LOCATION_LABEL = gettext_lazy("Location")
COMMENT_LABEL = gettext_lazy("Comment")


@dataclass(frozen=True)
class NewSignature:
    id: uuid.UUID  # the Signature's, once its batch is sealed
    receipt: str  # shown once, stored only as a hash
    counted: bool  # sealed already (a batch of one), or waiting for its batch


def parse_token(token: bytes) -> tuple[bytes, bytes]:
    """(text_hash, nonce) of a prepared token, or BadRequest."""
    if len(token) != PREPARED_TOKEN_LEN:
        raise BadRequest(
            _("The signing token in the request has the wrong length (%(got)d bytes, not %(n)d).")
            % {"n": PREPARED_TOKEN_LEN, "got": len(token)}
        )
    message = token[blindrsa.PREFIX_LEN :]
    if message[: len(TOKEN_CONTEXT)] != TOKEN_CONTEXT:
        raise BadRequest(
            _("The signing token in the request is not a token of this site (organizing-token-v1).")
        )
    text_hash = message[len(TOKEN_CONTEXT) : len(TOKEN_CONTEXT) + TEXT_HASH_LEN]
    return text_hash, message[len(TOKEN_CONTEXT) + TEXT_HASH_LEN :]


def _attestation_ids(value, *, required: set[int]) -> list[int]:
    if value is None:
        value = []
    if not isinstance(value, list) or len(value) > ATTESTATION_MAX:
        raise BadRequest(_("The statements you affirmed could not be read. Reload the page."))
    ids: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise BadRequest(_("The statements you affirmed could not be read. Reload the page."))
        ids.add(item)
    unknown = ids - required
    if unknown:
        raise BadRequest(
            _(
                "A statement you affirmed is no longer asked for (statement ids %(ids)s). "
                "Reload the page."
            )
            % {"ids": sorted(unknown)}
        )
    missing = required - ids
    if missing:
        raise ProofRejected(_("Please affirm every statement before signing."))
    return sorted(ids)


def signature_create(
    *,
    letter: Letter,
    token: bytes,
    signature: bytes,
    pseudonym,
    attestations=None,
    public_name=None,
    reveal_at=None,
    department=None,
    location=None,
    comment=None,
    required_attestations: set[int] | None = None,
    visibility_key: str | None = None,
) -> NewSignature:
    """Redeem a finalized token: verify it and accept the signature into the
    letter's next batch (services.batches), which writes it as a Signature.

    One INSERT of a PendingSignature, which itself checks that the letter is
    still open (and, with `visibility_key`, visible at this address), that
    every active statement of the campaign was affirmed and that no sealed
    signature spent the token; the (letter, token_hash) constraint of waiting
    signatures makes a double spend a 409 even under concurrency; a seal
    holds the waiting table (services.batches), so a second spend that
    arrives while it moves the first out waits for it and then finds the
    token sealed. Raises
    BadRequest, ProofRejected, NotFound, AlreadySpent, LetterNotOpen.
    `required_attestations` (ids of the campaign's active statements, as the
    caller read them with the letter) saves a query when the caller has them.
    """
    require_open(letter)
    row = issuer_row(letter)
    key = keys.loaded_issuer_key(row)
    text_hash, _nonce = parse_token(token)
    if not hmac.compare_digest(text_hash, bytes.fromhex(letter.text_hash)):
        raise ProofRejected(_("This token was made for a different letter or text."))
    if len(signature) != key.modulus_len:
        raise BadRequest(
            _("The token signature in the request has the wrong length (%(got)d bytes, not %(n)d).")
            % {"n": key.modulus_len, "got": len(signature)}
        )
    if int.from_bytes(signature, "big") >= key.n:
        raise BadRequest(
            _(
                "The token signature in the request does not fit this letter's key "
                "(it is not smaller than the key's modulus)."
            )
        )
    pseudonym = clean_text(
        pseudonym,
        field=PSEUDONYM_LABEL,
        max_len=PSEUDONYM_MAX,
        required=True,
        required_message=PSEUDONYM_REQUIRED,
    )
    public_name = clean_text(public_name, field=PUBLIC_NAME_LABEL, max_len=NAME_MAX)
    department = clean_text(department, field=DEPARTMENT_LABEL, max_len=GROUP_MAX)
    location = clean_text(location, field=LOCATION_LABEL, max_len=GROUP_MAX)
    comment = clean_text(comment, field=COMMENT_LABEL, max_len=COMMENT_MAX, multiline=True)
    if reveal_at is not None:
        if isinstance(reveal_at, bool) or not isinstance(reveal_at, int):
            raise BadRequest(
                _("The number of signers before your name is shown must be a whole number.")
            )
        if not 1 <= reveal_at <= REVEAL_AT_MAX:
            raise BadRequest(
                _(
                    "The number of signers before your name is shown must be between "
                    "1 and 10,000,000."
                )
            )
        if not public_name:
            raise BadRequest(_("Enter the public name to show once that many people have signed."))
    if required_attestations is not None:
        required = set(required_attestations)
    else:
        required = set(
            Attestation.objects.filter(campaign_id=letter.campaign_id, active=True).values_list(
                "id", flat=True
            )
        )
    affirmed = _attestation_ids(attestations, required=required)
    try:
        blindrsa.verify(key.public_key, token, signature)
    except blindrsa.VerificationFailed:
        raise ProofRejected(_("The token's signature is not valid for this letter.")) from None
    receipt = secrets.token_urlsafe(32)
    created = {
        "id": uuid.uuid4(),
        "letter_id": letter.pk,
        "token_hash": sha256_hex(token),
        "token": token,
        "signature": signature,
        "receipt_hash": sha256_hex(receipt),
        "pseudonym": pseudonym,
        "public_name": public_name,
        "reveal_at": reveal_at,
        "department": department,
        "location": location,
        "comment": comment,
        "attestations": affirmed,
    }
    # Accepted, not yet written as a Signature: it waits for its batch
    # (services.batches), its token spent from now on.
    inserted = insert_row(
        PendingSignature,
        created,
        only_if=[
            open_letter_condition(letter, visibility_key=visibility_key),
            statements_condition(letter, affirmed),
            token_unsealed_condition(letter, created["token_hash"]),
        ],
        unless_exists=SPENT_TOKEN_KEY,
    )
    if not inserted:
        raise refusal(
            letter,
            visibility_key=visibility_key,
            affirmed=affirmed,
            taken=_spent(letter, created["token_hash"]),
        )
    counted = batches.after_acceptance(letter=letter)
    return NewSignature(id=created["id"], receipt=receipt, counted=counted)


def _spent(letter: Letter, token_hash: str) -> AlreadySpent | None:
    """AlreadySpent if this token signed the letter (sealed or waiting)."""
    spent = (
        Signature.objects.filter(letter_id=letter.pk, token_hash=token_hash).exists()
        or PendingSignature.objects.filter(letter_id=letter.pk, token_hash=token_hash).exists()
    )
    if not spent:
        return None
    return AlreadySpent(_("This token has already been used to sign."))
