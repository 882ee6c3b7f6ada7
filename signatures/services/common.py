"""What issuance, redemption and receipts share: the token format, the
decoding of API input, and the explanation of a refused guarded INSERT."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core import text
from letters.models import Letter
from signatures import blindrsa
from signatures.errors import (
    BadRequest,
    Conflict,
    LetterNotOpen,
    NotFound,
    ProofRejected,
    SigningError,
)
from signatures.models import (
    Attestation,
    InviteCode,
    IssuerKey,
)

TOKEN_CONTEXT = b"organizing-token-v1"
TEXT_HASH_LEN = 32
NONCE_LEN = 32
TOKEN_MESSAGE_LEN = len(TOKEN_CONTEXT) + TEXT_HASH_LEN + NONCE_LEN  # 83
PREPARED_TOKEN_LEN = blindrsa.PREFIX_LEN + TOKEN_MESSAGE_LEN  # 115
VARIANT = "RSABSSA-SHA384-PSS-Randomized"

logger = logging.getLogger(__name__)

EMAIL_CODE_DIGITS = 8
EMAIL_CODE_VALIDITY = timedelta(minutes=15)
EMAIL_CODE_MAX_ATTEMPTS = 5
# Codes sent to one address per letter within EMAIL_CODE_VALIDITY.
EMAIL_CODES_PER_ADDRESS = 3

# The columns of the unique constraints that make a second token for one
# identity, or a second spend of one token, insert nothing.
ISSUANCE_KEY = ("letter_id", "identity_hmac")
SPENT_TOKEN_KEY = ("letter_id", "token_hash")

INVITE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
INVITE_CODE_CHARS = 16  # 80 bits
INVITE_CODES_MAX_BATCH = 5000
ATTESTATION_MAX = 200
REVEAL_AT_MAX = 10_000_000


# --- small helpers ---------------------------------------------------------------

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def field_description(field: str) -> str:
    """What people call a byte string of the API (its messages name no JSON
    key; docs/signing-protocol.md names the fields)."""
    return {
        "blinded_msg": _("blinded token"),
        "token": _("signing token"),
        "signature": _("token signature"),
        "blind_sig": _("blind signature"),
    }.get(field, field)


def b64url_decode(value, *, field: str, max_chars: int = 2048) -> bytes:
    """Decode a base64url string (padding optional) or raise BadRequest.

    The field's name is translated only for an error: eager translation cost
    a redemption 0.35M instructions, a sixth of the baseline request
    (bench/signing_instructions.py --parts)."""
    if not isinstance(value, str) or not value:
        raise BadRequest(
            _("The request has no %(what)s, or not as text.") % {"what": field_description(field)}
        )
    if len(value) > max_chars:
        raise BadRequest(
            _("The %(what)s in the request is too long.") % {"what": field_description(field)}
        )
    data = value.rstrip("=")
    # "+" and "/" are standard base64, which the translation below would let
    # through; strict decoding rejects every other character outside the
    # alphabet, padding inside the data and an impossible length, in C (a
    # regular expression cost as much as the decoding).
    if len(value) - len(data) <= 2 and data.isascii() and "+" not in data and "/" not in data:
        try:
            return binascii.a2b_base64(
                data.encode().translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(data) % 4),
                strict_mode=True,
            )
        except binascii.Error:
            pass
    raise BadRequest(
        _("The %(what)s in the request is damaged (it is not valid base64url).")
        % {"what": field_description(field)}
    )


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def clean_text(
    value,
    *,
    field: str,
    max_len: int,
    required: bool = False,
    multiline: bool = False,
    required_message: str | None = None,
) -> str:
    """core.text.clean_text (the one rule for names shown to others),
    refusing with BadRequest. `field` is a label people read."""
    try:
        return text.clean_text(
            value,
            field=field,
            max_len=max_len,
            required=required,
            multiline=multiline,
            required_message=required_message,
        )
    except ValidationError as exc:
        raise BadRequest(exc.messages[0]) from None


def issuer_row(letter: Letter) -> IssuerKey:
    try:
        return letter.issuer_key
    except IssuerKey.DoesNotExist:
        raise LetterNotOpen(_("This letter has no signing key yet.")) from None


def require_open(letter: Letter) -> None:
    if not letter.is_open:
        raise LetterNotOpen(_("This letter is not open for signatures."))


def invite_code_usable(*, campaign_id: int, code_hmac: str) -> bool:
    """Whether the campaign has this unrevoked code (explains a refusal)."""
    return InviteCode.objects.filter(
        campaign_id=campaign_id, code_hmac=code_hmac, revoked=False
    ).exists()


def refusal(
    letter: Letter,
    *,
    visibility_key: str | None,
    affirmed=None,
    code_hmac=None,
    taken: SigningError | None = None,
) -> SigningError:
    """Why a guarded INSERT recorded nothing, read afresh (a rare path).
    `taken` is the answer when the row's unique key is already taken (a
    second token, a double spend) and every condition holds, as the INSERT
    would have found."""
    return (
        refusal_reason(
            letter, visibility_key=visibility_key, affirmed=affirmed, code_hmac=code_hmac
        )
        or taken
        or Conflict(_("The letter changed while you were signing. Please try again."))
    )


def refusal_reason(
    letter: Letter, *, visibility_key: str | None, affirmed=None, code_hmac=None
) -> SigningError | None:
    """The condition of the guarded INSERT that fails now, if one does."""
    fresh = (
        Letter.objects.filter(pk=letter.pk)
        .only("slug", "state", "deadline", "visibility", "unlisted_token")
        .first()
    )
    hidden = (
        visibility_key is not None and fresh is not None and not fresh.visible_with(visibility_key)
    )
    if fresh is None or fresh.slug != letter.slug or hidden:
        return NotFound(_("No letter with this address is open to the public."))
    if not fresh.is_open:
        return LetterNotOpen(_("This letter is not open for signatures."))
    if code_hmac is not None and not invite_code_usable(
        campaign_id=letter.campaign_id, code_hmac=code_hmac
    ):
        return ProofRejected(_("This invite code is not valid or has been revoked."))
    if affirmed is not None:
        required = Attestation.objects.filter(campaign_id=letter.campaign_id, active=True)
        if set(required.values_list("id", flat=True)) - set(affirmed):
            return ProofRejected(_("Please affirm every statement before signing."))
    # Everything holds: the row's key was taken, or a condition changed back
    # while the request ran.
    return None
