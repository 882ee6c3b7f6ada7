"""State changes of the signatures app: issuer keys, eligibility, blind-token
issuance, redemption, receipts, invite codes and attestations.

Unlinkability rules this module keeps (docs/security.md):

- Issuance knows the identity (as an HMAC) and the *blinded* message; it stores
  only the HMAC and a date. Redemption knows the *unblinded* token; it stores
  only the token's hash and what the signer chose to show. Nothing passed to
  one side is stored or logged where the other side could find it.
- Nothing here logs an email address, a code, an account id, a token or a
  receipt.
- Uniqueness (one token per identity per letter, one signature per token) is a
  database constraint: we insert, never read first, and a conflicting insert
  does nothing (ON CONFLICT DO NOTHING) rather than raise: PostgreSQL logs
  every unique violation with the conflicting key, caught or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core import text
from core.crypto import keyed_hash
from core.errors import AppError
from core.ratelimit import RateLimited
from letters.markdown import markdown_to_text
from letters.models import Letter, LetterState, Update
from letters.selectors import letter_updates
from organizing.models import Campaign
from organizing.services import audit_record, require_organizer
from signatures import blindrsa, keys
from signatures.guarded_insert import (
    insert_row,
    invite_code_condition,
    open_letter_condition,
    statements_condition,
)
from signatures.models import (
    COMMENT_MAX,
    GROUP_MAX,
    NAME_MAX,
    PSEUDONYM_MAX,
    Attestation,
    EmailCode,
    InviteCode,
    Issuance,
    IssuerKey,
    Signature,
)
from signatures.selectors import letter_figures_forget
from signatures.signals import receipt_exports_requested

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


# --- errors ----------------------------------------------------------------------


class SigningError(AppError):
    """An error of signing, answered as JSON by the API (core.errors)."""


class BadRequest(SigningError):
    status, code = 400, "bad_request"


class ProofRejected(SigningError):
    status, code = 403, "forbidden"


class AlreadyIssued(SigningError):
    status, code = 409, "already_issued"


class AlreadySpent(SigningError):
    status, code = 409, "already_spent"


class Conflict(SigningError):
    status, code = 409, "conflict"


class LetterNotOpen(SigningError):
    status, code = 410, "letter_not_open"


class NotFound(SigningError):
    status, code = 404, "not_found"


# --- small helpers ---------------------------------------------------------------

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def b64url_decode(value, *, field: str, max_chars: int = 2048) -> bytes:
    """Decode a base64url string (padding optional) or raise BadRequest."""
    if not isinstance(value, str) or not value:
        raise BadRequest(_("“%(field)s” must be a non-empty base64url string.") % {"field": field})
    if len(value) > max_chars:
        raise BadRequest(_("“%(field)s” is too long.") % {"field": field})
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
    raise BadRequest(_("“%(field)s” is not valid base64url.") % {"field": field})


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def clean_text(
    value, *, field: str, max_len: int, required: bool = False, multiline: bool = False
) -> str:
    """core.text.clean_text (the one rule for names shown to others),
    refusing with BadRequest."""
    try:
        return text.clean_text(
            value, field=field, max_len=max_len, required=required, multiline=multiline
        )
    except ValidationError as exc:
        raise BadRequest(exc.messages[0]) from None


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
    """letters.signals.letter_opened receiver: runs inside the opening
    transaction, so a failure here rolls the opening back."""
    issuer_key_create(letter=letter)


def _issuer_row(letter: Letter) -> IssuerKey:
    try:
        return letter.issuer_key
    except IssuerKey.DoesNotExist:
        raise LetterNotOpen(_("This letter has no signing key yet.")) from None


def _require_open(letter: Letter) -> None:
    if not letter.is_open:
        raise LetterNotOpen(_("This letter is not open for signatures."))


# --- identities ------------------------------------------------------------------


def email_normalize(raw) -> tuple[str, str]:
    """(address, domain) with the domain lower-cased and IDNA-encoded.

    The whole address is lower-cased too: mail systems treat local parts
    case-insensitively in practice, and "Ann@" and "ann@" must be one person.
    """
    if not isinstance(raw, str):
        raise BadRequest(_("“email” must be text."))
    address = unicodedata.normalize("NFC", raw).strip()
    if not address or len(address) > 254:
        raise BadRequest(_("Enter a valid email address."))
    if address.count("@") != 1:
        raise BadRequest(_("Enter a valid email address."))
    local, domain = address.rsplit("@", 1)
    domain = domain.strip().rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadRequest(_("Enter a valid email address.")) from None
    if (
        not local
        or len(local) > 64
        or any(c.isspace() or unicodedata.category(c).startswith("C") for c in local)
        or "." not in domain
        or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum()
            for label in domain.split(".")
        )
    ):
        raise BadRequest(_("Enter a valid email address."))
    return f"{local.lower()}@{domain}", domain


def identity_hmac(letter_id: int, identity: str) -> str:
    """HMAC of a normalized identity ("email:…", "invite:…", "account:…") for
    one letter: unique per letter, useless for joining across letters."""
    return keyed_hash("identity", letter_id, identity)


def email_send_limit_key(letter_id: int, address: str) -> str:
    """The per-address counter's name in the cache: a keyed hash of its own,
    not the identity HMAC. That one is stored in issuance and email-code
    rows, and a cache key holding it, with an expiry to the second, would
    tell when the person behind a row asked for a code."""
    return keyed_hash("email-send-limit", letter_id, address)


def _code_hmac(letter_id: int, email_hmac: str, code: str) -> str:
    return keyed_hash("email-code", letter_id, email_hmac, code)


def invite_code_normalize(raw) -> str:
    if not isinstance(raw, str) or len(raw) > 64:
        raise ProofRejected(_("This invite code is not valid."))
    text = raw.upper().replace("-", "").replace(" ", "")
    text = text.translate(str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"}))
    if len(text) != INVITE_CODE_CHARS or any(c not in INVITE_ALPHABET for c in text):
        raise ProofRejected(_("This invite code is not valid."))
    return text


def invite_code_hmac(normalized: str) -> str:
    return keyed_hash("invite-code", normalized)


# --- eligibility: email codes ----------------------------------------------------


def email_code_request(*, letter: Letter, email) -> None:
    """Send a typed code to a work address in one of the campaign's domains.

    Stores HMACs of the address and the code only; the address itself is
    forgotten when this function returns. Answers the same whether or not the
    address already holds a token, so the endpoint reveals nothing about who
    signed.
    """
    _require_open(letter)
    address, domain = email_normalize(email)
    if not letter.campaign.allows_email_domain(domain):
        raise BadRequest(
            _("Codes can only be sent to work addresses of %(employer)s (%(domains)s).")
            % {
                "employer": letter.campaign.employer_name,
                "domains": ", ".join(letter.campaign.allowed_domains) or _("none"),
            }
        )
    email_hmac = identity_hmac(letter.pk, f"email:{address}")
    per_address_key = f"sig-email-sent:{email_send_limit_key(letter.pk, address)}"
    cache.add(per_address_key, 0, int(EMAIL_CODE_VALIDITY.total_seconds()))
    if cache.incr(per_address_key) > EMAIL_CODES_PER_ADDRESS:
        raise RateLimited(
            _("Several codes were already sent to this address. Use the latest one or wait.")
        )
    code = "".join(secrets.choice("0123456789") for _ in range(EMAIL_CODE_DIGITS))
    now = timezone.now()
    with transaction.atomic():
        EmailCode.objects.filter(letter=letter, expires_at__lt=now).delete()
        # One statement, INSERT ... ON CONFLICT DO UPDATE: update_or_create
        # would read, then insert, and two requests at once for one address
        # would make PostgreSQL log a unique violation with its HMAC.
        EmailCode.objects.bulk_create(
            [
                EmailCode(
                    letter=letter,
                    email_hmac=email_hmac,
                    code_hmac=_code_hmac(letter.pk, email_hmac, code),
                    attempts=0,
                    expires_at=now + EMAIL_CODE_VALIDITY,
                )
            ],
            update_conflicts=True,
            unique_fields=["letter", "email_hmac"],
            update_fields=["code_hmac", "attempts", "expires_at"],
        )
    send_mail(
        subject=_("Your code to sign “%(title)s”") % {"title": letter.title[:80]},
        message=_(
            "Your code: %(code)s\n\n"
            "Type it on the signing page within 15 minutes. If you did not ask for it, "
            "ignore this message.\n"
        )
        % {"code": f"{code[:4]} {code[4:]}"},
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[address],
        fail_silently=False,
    )


def email_codes_purge_expired(*, now=None) -> int:
    """Delete expired email codes of every letter; returns how many.

    Periodic (CELERY_BEAT_SCHEDULE), so an unused code's row is gone minutes
    after it expires, not when the next code for that letter is requested.
    """
    deleted, _by_model = EmailCode.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted


def _email_code_claim(*, letter: Letter, email, code) -> str:
    """Check a typed code; return the identity HMAC, or raise ProofRejected.

    Each check first claims one of the code's attempts with a conditional
    UPDATE, so parallel guesses cannot exceed the limit. The caller commits
    the claim even when the check fails.
    """
    address, _domain = email_normalize(email)
    if not isinstance(code, str):
        raise BadRequest(_("“code” must be text."))
    digits = code.replace(" ", "").replace("-", "")
    if not (6 <= len(digits) <= 8 and digits.isascii() and digits.isdigit()):
        raise ProofRejected(_("This code is wrong or has expired. Request a new one."))
    email_hmac = identity_hmac(letter.pk, f"email:{address}")
    claimed = EmailCode.objects.filter(
        letter=letter,
        email_hmac=email_hmac,
        expires_at__gt=timezone.now(),
        attempts__lt=EMAIL_CODE_MAX_ATTEMPTS,
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        raise ProofRejected(
            _(
                "No valid code for this address: it expired, or was tried too often. "
                "Request a new one."
            )
        )
    row = EmailCode.objects.filter(letter=letter, email_hmac=email_hmac).only("code_hmac").first()
    expected = row.code_hmac if row else ""
    if not hmac.compare_digest(expected, _code_hmac(letter.pk, email_hmac, digits)):
        raise ProofRejected(_("This code is wrong or has expired. Request a new one."))
    return email_hmac


# --- blind-token issuance --------------------------------------------------------


def account_identities(*, letter: Letter, user) -> list[str]:
    """Identities of a signed-in member: the account, plus each verified work
    address in an allowed domain (claimed as aliases so the email route
    cannot issue the same person a second token)."""
    from allauth.account.models import EmailAddress

    from organizing.services import membership_for

    if user is None or not user.is_authenticated:
        raise ProofRejected(_("Sign in first to verify with your account."))
    if membership_for(user=user, campaign=letter.campaign) is None:
        raise ProofRejected(_("Your account is not a member of this campaign."))
    addresses = []
    for row in EmailAddress.objects.filter(user=user, verified=True):
        try:
            address, domain = email_normalize(row.email)
        except BadRequest:
            continue
        if letter.campaign.allows_email_domain(domain):
            addresses.append(address)
    if not addresses:
        raise ProofRejected(
            _("Your account has no verified address in the campaign's work-email domains.")
        )
    return [f"account:{user.pk}"] + [f"email:{a}" for a in sorted(set(addresses))]


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
    _require_open(letter)
    row = _issuer_row(letter)
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
                            raise _refusal(
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
        raise _refusal(
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
        return [_email_code_claim(letter=letter, email=proof.get("email"), code=proof.get("code"))]
    identities = account_identities(letter=letter, user=user)
    return [identity_hmac(letter.pk, identity) for identity in identities]


def _invite_code_usable(*, campaign_id: int, code_hmac: str) -> bool:
    """Whether the campaign has this unrevoked code (explains a refusal)."""
    return InviteCode.objects.filter(
        campaign_id=campaign_id, code_hmac=code_hmac, revoked=False
    ).exists()


# --- redemption --------------------------------------------------------------------


@dataclass(frozen=True)
class NewSignature:
    id: uuid.UUID  # the Signature's
    receipt: str  # shown once, stored only as a hash


def parse_token(token: bytes) -> tuple[bytes, bytes]:
    """(text_hash, nonce) of a prepared token, or BadRequest."""
    if len(token) != PREPARED_TOKEN_LEN:
        raise BadRequest(
            _("“token” must be %(n)d bytes, got %(got)d.")
            % {"n": PREPARED_TOKEN_LEN, "got": len(token)}
        )
    message = token[blindrsa.PREFIX_LEN :]
    if message[: len(TOKEN_CONTEXT)] != TOKEN_CONTEXT:
        raise BadRequest(_("“token” is not an organizing-token-v1 token."))
    text_hash = message[len(TOKEN_CONTEXT) : len(TOKEN_CONTEXT) + TEXT_HASH_LEN]
    return text_hash, message[len(TOKEN_CONTEXT) + TEXT_HASH_LEN :]


def _attestation_ids(value, *, required: set[int]) -> list[int]:
    if value is None:
        value = []
    if not isinstance(value, list) or len(value) > ATTESTATION_MAX:
        raise BadRequest(_("“attestations” must be a list of statement ids."))
    ids: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise BadRequest(_("“attestations” must be a list of statement ids."))
        ids.add(item)
    unknown = ids - required
    if unknown:
        raise BadRequest(_("Unknown statement ids: %(ids)s.") % {"ids": sorted(unknown)})
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
    """Redeem a finalized token: verify it and record the signature.

    One INSERT, which itself checks that the letter is still open (and, with
    `visibility_key`, visible at this address) and that every active
    statement of the campaign was affirmed; the (letter, token_hash)
    constraint makes a double spend a 409 even under concurrency. Raises
    BadRequest, ProofRejected, NotFound, AlreadySpent, LetterNotOpen.
    `required_attestations` (ids of the campaign's active statements, as the
    caller read them with the letter) saves a query when the caller has them.
    """
    _require_open(letter)
    row = _issuer_row(letter)
    key = keys.loaded_issuer_key(row)
    text_hash, _nonce = parse_token(token)
    if not hmac.compare_digest(text_hash, bytes.fromhex(letter.text_hash)):
        raise ProofRejected(_("This token was made for a different letter or text."))
    if len(signature) != key.modulus_len:
        raise BadRequest(
            _("“signature” must be %(n)d bytes, got %(got)d.")
            % {"n": key.modulus_len, "got": len(signature)}
        )
    if int.from_bytes(signature, "big") >= key.n:
        raise BadRequest(_("“signature” is not smaller than the key's modulus."))
    pseudonym = clean_text(pseudonym, field="pseudonym", max_len=PSEUDONYM_MAX, required=True)
    public_name = clean_text(public_name, field="public_name", max_len=NAME_MAX)
    department = clean_text(department, field="department", max_len=GROUP_MAX)
    location = clean_text(location, field="location", max_len=GROUP_MAX)
    comment = clean_text(comment, field="comment", max_len=COMMENT_MAX, multiline=True)
    if reveal_at is not None:
        if isinstance(reveal_at, bool) or not isinstance(reveal_at, int):
            raise BadRequest(_("“reveal_at” must be a whole number."))
        if not 1 <= reveal_at <= REVEAL_AT_MAX:
            raise BadRequest(_("“reveal_at” must be between 1 and 10,000,000."))
        if not public_name:
            raise BadRequest(_("“reveal_at” needs a “public_name” to reveal."))
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
        "receipt_hash": sha256_hex(receipt),
        "pseudonym": pseudonym,
        "public_name": public_name,
        "reveal_at": reveal_at,
        "department": department,
        "location": location,
        "comment": comment,
        "attestations": affirmed,
    }
    inserted = insert_row(
        Signature,
        created,
        only_if=[
            open_letter_condition(letter, visibility_key=visibility_key),
            statements_condition(letter, affirmed),
        ],
        unless_exists=SPENT_TOKEN_KEY,
    )
    if not inserted:
        raise _refusal(
            letter,
            visibility_key=visibility_key,
            affirmed=affirmed,
            taken=_spent(letter, created["token_hash"]),
        )
    # The public figures are not refreshed here: they are cached for
    # selectors.FIGURES_CACHE_SECONDS, so a burst of signatures costs one
    # count, not one cache write each.
    return NewSignature(id=created["id"], receipt=receipt)


def _spent(letter: Letter, token_hash: str) -> AlreadySpent | None:
    """AlreadySpent if this token signed the letter."""
    if not Signature.objects.filter(letter_id=letter.pk, token_hash=token_hash).exists():
        return None
    return AlreadySpent(_("This token has already been used to sign."))


def _refusal(
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
        _refusal_reason(
            letter, visibility_key=visibility_key, affirmed=affirmed, code_hmac=code_hmac
        )
        or taken
        or Conflict(_("The letter changed while you were signing. Please try again."))
    )


def _refusal_reason(
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
    if code_hmac is not None and not _invite_code_usable(
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


# --- receipts ----------------------------------------------------------------------


def _receipt_signature(receipt) -> Signature:
    if not isinstance(receipt, str) or not 20 <= len(receipt) <= 128:
        raise BadRequest(_("“receipt” must be the receipt text you saved when signing."))
    found = (
        Signature.objects.select_related("letter")
        .filter(receipt_hash=sha256_hex(receipt.strip()))
        .first()
    )
    if found is None:
        raise NotFound(_("No signature has this receipt."))
    return found


RECEIPT_UPDATES = 20


def receipt_update(update: Update) -> dict:
    """An update of the signed letter as the receipt API lists it."""
    page = reverse("letters:public", args=[update.letter.slug])
    return {
        "id": str(update.pk),
        "title": update.title,
        "published": update.published_at.isoformat(),
        "edited": update.edited_at.isoformat() if update.edited_at else None,
        "text": markdown_to_text(update.body),
        "url": f"{page}#update-{update.pk}",
    }


def receipt_status(*, receipt) -> dict:
    signature = _receipt_signature(receipt)
    exports = []
    # petitions answers, without this module importing it (signatures.signals).
    for _receiver, found in receipt_exports_requested.send(sender=Signature, signature=signature):
        exports.extend(found)
    letter = signature.letter
    return {
        "status": "withdrawn" if signature.withdrawn else "counted",
        "letter": {"slug": letter.slug, "title": letter.title, "state": letter.state},
        "pseudonym": signature.pseudonym,
        "can_withdraw": not signature.withdrawn and letter.state != LetterState.DELIVERED,
        "exports": exports,
        # The letter's news, newest first (what its page shows).
        "updates": [
            receipt_update(update)
            for update in letter_updates(letter).select_related("letter")[:RECEIPT_UPDATES]
        ],
    }


def receipt_withdraw(*, receipt) -> Signature:
    """Withdraw a signature before its letter is delivered. Idempotent."""
    signature = _receipt_signature(receipt)
    with transaction.atomic():
        letter = Letter.objects.select_for_update().get(pk=signature.letter_id)
        if letter.state == LetterState.DELIVERED:
            raise Conflict(_("This letter has already been delivered; it can no longer change."))
        Signature.objects.filter(pk=signature.pk).update(withdrawn=True)
    signature.withdrawn = True
    letter_figures_forget(letter)
    return signature


# --- invite codes ----------------------------------------------------------------


def _new_invite_code() -> str:
    raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_CODE_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, INVITE_CODE_CHARS, 4))


def _require_actor(actor, campaign: Campaign) -> None:
    """actor=None means the operator on the command line (manage.py)."""
    if actor is not None:
        require_organizer(user=actor, campaign=campaign)


def invite_codes_create(*, actor, campaign: Campaign, count: int, batch: str = "") -> list[str]:
    """Create `count` invite codes; returns them (shown once, stored as HMACs).

    actor=None is the operator running manage.py; views always pass a user.
    """
    _require_actor(actor, campaign)
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValidationError(_("The number of codes must be a whole number."))
    if not 1 <= count <= INVITE_CODES_MAX_BATCH:
        raise ValidationError(
            _("Create between 1 and %(max)d codes at a time.") % {"max": INVITE_CODES_MAX_BATCH}
        )
    batch = (batch or "").strip()
    if len(batch) > 80 or any(unicodedata.category(c).startswith("C") for c in batch):
        raise ValidationError(_("A batch label has at most 80 printable characters."))
    codes = [_new_invite_code() for _ in range(count)]
    with transaction.atomic():
        InviteCode.objects.bulk_create(
            [
                InviteCode(
                    campaign=campaign,
                    code_hmac=invite_code_hmac(invite_code_normalize(code)),
                    batch=batch,
                )
                for code in codes
            ]
        )
        audit_record(
            campaign=campaign,
            actor=actor,
            action="invite_codes.create",
            summary=f"{count} code(s)" + (f", batch {batch}" if batch else ""),
        )
    return codes


@transaction.atomic
def invite_code_revoke(*, actor, campaign: Campaign, code: str) -> bool:
    """Revoke one code (typed by the organizer). Returns False if unknown."""
    _require_actor(actor, campaign)
    try:
        normalized = invite_code_normalize(code)
    except ProofRejected:
        return False
    updated = InviteCode.objects.filter(
        campaign=campaign, code_hmac=invite_code_hmac(normalized), revoked=False
    ).update(revoked=True)
    if updated:
        audit_record(campaign=campaign, actor=actor, action="invite_codes.revoke", summary="1 code")
    return bool(updated)


@transaction.atomic
def invite_batch_revoke(*, actor, campaign: Campaign, batch: str) -> int:
    _require_actor(actor, campaign)
    updated = InviteCode.objects.filter(campaign=campaign, batch=batch, revoked=False).update(
        revoked=True
    )
    if updated:
        audit_record(
            campaign=campaign,
            actor=actor,
            action="invite_codes.revoke",
            summary=f"{updated} code(s) of batch {batch or '(none)'}",
        )
    return updated


# --- attestations ----------------------------------------------------------------


@transaction.atomic
def attestation_create(*, actor, campaign: Campaign, text: str) -> Attestation:
    _require_actor(actor, campaign)
    try:
        text = clean_text(text, field=_("statement"), max_len=200, required=True)
    except BadRequest as exc:
        raise ValidationError(exc.message) from None
    position = campaign.attestations.count()
    attestation = Attestation.objects.create(campaign=campaign, text=text, position=position)
    audit_record(
        campaign=campaign, actor=actor, action="attestation.create", obj=attestation, summary=text
    )
    return attestation


@transaction.atomic
def attestation_set_active(*, actor, attestation: Attestation, active: bool) -> Attestation:
    """Attestations are never deleted: signatures refer to them by id."""
    _require_actor(actor, attestation.campaign)
    if attestation.active != active:
        attestation.active = active
        attestation.save(update_fields=["active"])
        audit_record(
            campaign=attestation.campaign,
            actor=actor,
            action="attestation.activate" if active else "attestation.deactivate",
            obj=attestation,
            summary=attestation.text,
        )
    return attestation
