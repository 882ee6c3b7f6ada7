"""Who may receive a token: normalized identities and their keyed hashes,
work-email codes, signed-in members, invite codes, and the campaign's
attestations (the statements a signer affirms)."""

from __future__ import annotations

import hmac
import secrets
import unicodedata

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.crypto import keyed_hash
from core.ratelimit import RateLimited
from letters.models import Letter
from organizing.models import Campaign
from organizing.services import audit_record, membership_for, require_organizer
from signatures.errors import (
    BadRequest,
    ProofRejected,
)
from signatures.models import (
    Attestation,
    EmailCode,
    InviteCode,
)
from signatures.services.common import (
    EMAIL_CODE_DIGITS,
    EMAIL_CODE_MAX_ATTEMPTS,
    EMAIL_CODE_VALIDITY,
    EMAIL_CODES_PER_ADDRESS,
    INVITE_ALPHABET,
    INVITE_CODE_CHARS,
    INVITE_CODES_MAX_BATCH,
    clean_text,
    require_open,
)

# --- identities ------------------------------------------------------------------


def email_normalize(raw) -> tuple[str, str]:
    """(address, domain) with the domain lower-cased and IDNA-encoded.

    The whole address is lower-cased too: mail systems treat local parts
    case-insensitively in practice, and "Ann@" and "ann@" must be one person.
    """
    if not isinstance(raw, str):
        raise BadRequest(_("Type your work email address."))
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
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ProofRejected(_("Type the invite code you were given."))
    if not isinstance(raw, str) or len(raw) > 64:
        raise ProofRejected(_("This invite code is not valid."))
    text = raw.upper().replace("-", "").replace(" ", "")
    text = text.translate(str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"}))
    if len(text) != INVITE_CODE_CHARS or any(c not in INVITE_ALPHABET for c in text):
        raise ProofRejected(
            _("This invite code is not valid. Check it: it has 16 letters and digits.")
        )
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
    require_open(letter)
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
    # Neutral: the employer's mail system reads subject and body, so they
    # name neither the letter nor the campaign.
    send_mail(
        subject=_("Your verification code"),
        message=_(
            "Your code: %(code)s\n\n"
            "Type it on the page where you asked for it, within 15 minutes. If you did "
            "not ask for it, ignore this message.\n"
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


def email_code_claim(*, letter: Letter, email, code) -> str:
    """Check a typed code; return the identity HMAC, or raise ProofRejected.

    Each check first claims one of the code's attempts with a conditional
    UPDATE, so parallel guesses cannot exceed the limit. The caller commits
    the claim even when the check fails.
    """
    address, _domain = email_normalize(email)
    if not isinstance(code, str):
        raise BadRequest(_("Type the code from the email."))
    if not code.strip():
        raise ProofRejected(_("Type the code from the email."))
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
        raise ProofRejected(
            _(
                "This code is wrong or has expired. Only the newest code sent to this "
                "address works; check it, or request a new one."
            )
        )
    return email_hmac


def account_identities(*, letter: Letter, user) -> list[str]:
    """Identities of a signed-in member: the account, plus each verified work
    address in an allowed domain (claimed as aliases so the email route
    cannot issue the same person a second token)."""
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
