"""The signing JSON API (/api/v1/...), documented in docs/signing-protocol.md.

Thin: parse and size-check input, rate-limit on request.client_key, call a
service, answer JSON. Every error is a JSON object {"error", "message"} with
a 4xx status. The POST endpoints take no session (the proof or the token is
the authorization) and so are exempt from CSRF; the one proof that relies on
the session cookie ({"type": "account"}) is checked against CSRF explicitly.
"""

from __future__ import annotations

from time import monotonic

from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.translation import gettext as _

from core.http import api_view, json_body
from core.ratelimit import RateLimited, rate_limit, rate_limit_failures
from letters.models import Letter, LetterState
from signatures.errors import BadRequest, CsrfRefused, NotFound, SigningError
from signatures.models import Attestation, IssuerKey, LetterLog
from signatures.selectors import Timeline, letter_figures, letter_timeline, public_signatures_page
from signatures.services import common, eligibility, issuance, moderation, receipts, redemption
from signatures.services.batches import next_batch_within_minutes


def load_letter(request, slug: str) -> Letter:
    """A letter anyone may see: open, closed or delivered, and public (or
    unlisted with its secret `key` query parameter); else NotFound (404)."""
    return _visible(request, _letter_at(slug))


def _letter_at(slug: str) -> Letter | None:
    return (
        Letter.objects.select_related("campaign", "issuer_key", "log")
        .defer("body", "demands", "issuer_key__private_key_encrypted", "log__private_key_encrypted")
        .filter(slug=slug)
        .first()
    )


# --- the letter of a signing POST, kept between requests ------------------------------
#
# The one speed-up of the signing path that bench/signing.py showed to be
# needed for its targets (docs/benchmarks.md, "Signing"): a worker process
# keeps the open letter it last read for a signing POST, for
# SIGNING_LETTER_KEEP_SECONDS, and the token and signature POSTs use that copy
# instead of reading the letter. Measured on the 2-core machine (rate as a
# ratio to the baseline; worker instructions per request, baseline 2.0M):
#
#   letter and statements read by the ORM per request: redemption 0.25x
#     (8.9M instructions), issuance 0.26x;
#   the same in one raw query per request: redemption 0.71x (0.52-0.76 over
#     three rounds; 3.7M), issuance 0.38x;
#   the kept copy: redemption 0.82x, 0.71x and 0.70x in three runs (3.0M),
#     issuance 0.51x, 0.49x and 0.51x.
#
# A stale copy cannot let a request through: the guarded INSERT checks the
# letter's state, deadline, address, visibility and statements as it writes
# (signatures.guarded_insert), and what a copy holds for good (id, campaign,
# text hash, issuer key) cannot change while the letter is open. Nor can it
# refuse a request wrongly: signing_attempt retries a refusal on a fresh read.
# Email-code and account issuance always read afresh (a failed check writes
# its attempt counter, so it must not run twice).

SIGNING_LETTER_KEEP_SECONDS = 60
SIGNING_LETTERS_KEPT_MAX = 256
_kept_letters: dict[str, tuple[float, Letter]] = {}


def signing_letter(request, slug: str) -> tuple[Letter, bool]:
    """(letter, fresh) for a token or signature POST: the kept copy when this
    process has one, else a fresh read. NotFound (404) when no letter to sign
    is at this address: checked before the body is read, so a bad body sent
    to a wrong address says so."""
    kept = _kept_letters.get(slug)
    if kept is not None and kept[0] > monotonic():
        try:
            return _visible(request, kept[1]), False
        except NotFound:
            pass  # Perhaps a stale copy: answer from a fresh read.
    return fresh_signing_letter(request, slug), True


def fresh_signing_letter(request, slug: str) -> Letter:
    """The letter read afresh, with `required_attestation_ids` (its campaign's
    active statements), and kept for the next requests if it is open and has
    its issuer key."""
    letter = _letter_at(slug)
    if letter is not None:
        letter.required_attestation_ids = set(
            Attestation.objects.filter(campaign_id=letter.campaign_id, active=True).values_list(
                "id", flat=True
            )
        )
    if letter is not None and letter.is_open and hasattr(letter, "issuer_key"):
        if len(_kept_letters) >= SIGNING_LETTERS_KEPT_MAX:
            _kept_letters.clear()
        _kept_letters[slug] = (monotonic() + SIGNING_LETTER_KEEP_SECONDS, letter)
    else:
        _kept_letters.pop(slug, None)
    return _visible(request, letter)


def signing_attempt(request, slug: str, letter: Letter, fresh: bool, attempt):
    """attempt(letter), with `letter` and `fresh` from signing_letter.

    A refusal on a kept copy is retried once on a fresh read, except a
    conflict over the row's key (a second token, a spent token: 409), which
    does not depend on the letter. So `attempt` must write nothing when it
    refuses (invite-code issuance and redemption do not).
    """
    if not fresh:
        try:
            return attempt(letter)
        except SigningError as exc:
            if exc.status == 409:
                raise
        letter = fresh_signing_letter(request, slug)
    return attempt(letter)


def signing_letters_forget() -> None:
    """Drop every letter this process keeps (tests: a test's rows are rolled
    back, and SQLite reuses their ids)."""
    _kept_letters.clear()


def _visible(request, letter: Letter | None) -> Letter:
    if (
        letter is None
        or letter.state in (LetterState.DRAFT, LetterState.REVIEW)
        or not letter.visible_with(request.GET.get("key", ""))
    ):
        raise NotFound(_("No letter with this address is open to the public."))
    return letter


def _client_key(request) -> str:
    return getattr(request, "client_key", "unknown")


def _rate_limit(request, scope: str) -> None:
    rate_limit(scope, _client_key(request))


def letter_summary(letter: Letter) -> dict:
    return {
        "slug": letter.slug,
        "title": letter.title,
        "state": letter.state,
        "url": reverse("signatures:api_letter", args=[letter.slug]),
    }


def letter_detail_data(letter: Letter) -> dict:
    figures = letter_figures(letter)
    try:
        issuer = letter.issuer_key
    except IssuerKey.DoesNotExist:
        issuer = None
    try:
        log = letter.log
    except LetterLog.DoesNotExist:
        log = None
    eligibility = []
    if letter.campaign.allowed_domains:
        eligibility.append("email_code")
    eligibility.append("invite_code")
    return {
        "slug": letter.slug,
        "title": letter.title,
        "state": letter.state,
        "is_open": letter.is_open,
        "text_sha256": letter.text_hash,
        "count": figures.count,
        "tokens_issued": figures.tokens_issued,
        "goal": letter.goal,
        # Minutes until the next batch may be sealed (0: when it is full;
        # None: each signature is counted at once). Read on every request,
        # unlike the cached figures: the signing page shows it after signing.
        "next_batch_within_minutes": next_batch_within_minutes(letter) if letter.is_open else None,
        "deadline": letter.deadline.isoformat() if letter.deadline else None,
        "eligibility": eligibility,
        "email_domains": list(letter.campaign.allowed_domains),
        "attestations": [
            {"id": a.id, "text": a.text}
            for a in Attestation.objects.filter(campaign_id=letter.campaign_id, active=True)
        ],
        "k": figures.k,
        "departments": [{"name": n, "count": c} for n, c in figures.departments],
        "locations": [{"name": n, "count": c} for n, c in figures.locations],
        "issuer": (
            {
                "key_id": issuer.key_id,
                "public_key_pem": issuer.public_key_pem,
                "variant": common.VARIANT,
            }
            if issuer
            else None
        ),
        # The letter's transparency log (docs/signing-protocol.md, "The log").
        "log": (
            {
                "origin": log.origin,
                "verifier_key": log.verifier_key,
                "checkpoint_url": reverse("signatures:log_checkpoint", args=[letter.slug]),
                # The checkpoint whose count is `count` (None: no checkpoint yet).
                "tree_size": figures.tree_size,
            }
            if log
            else None
        ),
    }


@api_view("GET")
def letters(request):
    from letters.selectors import public_open_letters

    return JsonResponse(
        {"letters": [letter_summary(letter) for letter in public_open_letters()[:200]]}
    )


@api_view("GET")
def letter(request, slug):
    return JsonResponse(letter_detail_data(load_letter(request, slug)))


def timeline_data(timeline: Timeline) -> dict:
    """The timeline as open data (docs/signing-protocol.md, "Timeline")."""
    return {
        "count": timeline.count,
        "tokens_issued": timeline.tokens_issued,
        "goal": timeline.goal,
        "k": timeline.k,
        "periods": [
            {
                "from": period.first_day.isoformat(),
                "to": period.last_day.isoformat(),
                "signatures": period.signatures,
                "tokens_issued": period.tokens_issued,
                "total": period.total,
            }
            for period in timeline.periods
        ],
    }


@api_view("GET")
def timeline(request, slug):
    letter = load_letter(request, slug)
    return JsonResponse({"slug": letter.slug, **timeline_data(letter_timeline(letter))})


@api_view("POST")
def email_codes(request, slug):
    letter = load_letter(request, slug)
    data = json_body(request)
    _rate_limit(request, "email_code")
    eligibility.email_code_request(letter=letter, email=data.get("email"))
    return JsonResponse(
        {"status": "sent", "message": _("If the address is valid, a code is on its way.")},
        status=202,
    )


@api_view("POST")
def tokens(request, slug):
    letter, fresh = signing_letter(request, slug)
    data = json_body(request)
    proof = data.get("proof")
    kind = proof.get("type") if isinstance(proof, dict) else None
    # Refused requests count against the client's limit, successful ones do
    # not (core.ratelimit.rate_limit_failures): a room of colleagues behind
    # one address each redeem their own code, while guessing needs refusals.
    # Invite codes have a limit of their own.
    scope = "invite_code" if kind == "invite_code" else "token"
    with rate_limit_failures(scope, _client_key(request)):
        blind_sig = _token_issue(request, slug, letter, fresh, data, proof, kind)
    return JsonResponse({"blind_sig": common.b64url_encode(blind_sig)})


def _token_issue(request, slug, letter, fresh, data, proof, kind) -> bytes:
    blinded = common.b64url_decode(data.get("blinded_msg"), field="blinded_msg")
    visibility_key = request.GET.get("key", "")
    if kind == "invite_code":

        def attempt(letter):
            return issuance.token_issue(
                letter=letter, blinded_msg=blinded, proof=proof, visibility_key=visibility_key
            )

        return signing_attempt(request, slug, letter, fresh, attempt)
    # Email codes and accounts: a failed check writes (an attempt counter),
    # so they run once, on a fresh read of the letter.
    if not fresh:
        letter = fresh_signing_letter(request, slug)
    user = None
    if kind == "account":
        # The only cookie-authenticated request of the API: check CSRF.
        rejected = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if rejected is not None:
            raise CsrfRefused(_("Reload the page and try again (CSRF check failed)."))
        user = request.user
    return issuance.token_issue(
        letter=letter, blinded_msg=blinded, proof=proof, user=user, visibility_key=visibility_key
    )


@api_view("POST", "GET")
def signatures(request, slug):
    if request.method == "GET":
        return _signature_list(request, load_letter(request, slug))
    try:
        created = _redeem(request, slug)
    except SigningError as exc:
        # Failed redemptions count against the client's limit; successful
        # ones do not: each spends a token that issuance (rate limited on
        # every request) gave out, and a limit on them would stop colleagues
        # behind one shared address from signing together.
        if not isinstance(exc, RateLimited):
            _rate_limit(request, "signature")
        raise
    return JsonResponse(
        {
            "id": str(created.id),
            "receipt": created.receipt,
            "status": "counted" if created.counted else "pending",
        },
        status=201,
    )


def _redeem(request, slug):
    letter, fresh = signing_letter(request, slug)
    data = json_body(request)
    optional = {}
    for name in ("public_name", "reveal_at", "department", "location", "comment"):
        if name in data:
            optional[name] = data[name]
    token = common.b64url_decode(data.get("token"), field="token")
    signature = common.b64url_decode(data.get("signature"), field="signature")
    visibility_key = request.GET.get("key", "")

    def attempt(letter):
        return redemption.signature_create(
            letter=letter,
            token=token,
            signature=signature,
            pseudonym=data.get("pseudonym"),
            attestations=data.get("attestations"),
            required_attestations=letter.required_attestation_ids,
            visibility_key=visibility_key,
            **optional,
        )

    return signing_attempt(request, slug, letter, fresh, attempt)


def _signature_list(request, letter: Letter) -> JsonResponse:
    try:
        page, rows, figures = public_signatures_page(letter, request.GET.get("page", "1"))
    except (PageNotAnInteger, EmptyPage):
        raise BadRequest(_("This page of signatures does not exist.")) from None
    return JsonResponse(
        {
            "count": figures.count,
            "tokens_issued": figures.tokens_issued,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "next": page.next_page_number() if page.has_next() else None,
            "results": [
                {
                    "pseudonym": row.pseudonym or None,  # null: hidden by the organizers
                    "public_name": row.public_name or None,
                    "department": row.department or None,
                    "location": row.location or None,
                    "comment": row.comment or None,
                    "log_index": row.log_index,
                    "commitment": row.commitment,
                    "id": row.id,
                    "moderation": row.moderation,
                }
                for row in rows
            ],
        }
    )


@api_view("POST")
def signature_report(request, slug, signature_id):
    """Report a signature's public text to the organizers: a reason and an
    optional note; no account, and nothing kept of who sent it."""
    letter = load_letter(request, slug)
    data = json_body(request)
    _rate_limit(request, "report")
    moderation.report_create(
        letter=letter,
        signature_id=signature_id,
        reason=data.get("reason"),
        note=data.get("note", ""),
    )
    return JsonResponse(
        {"status": "received", "message": _("Thank you: the organizers will look at it.")},
        status=201,
    )


@api_view("POST")
def receipt_status(request):
    data = json_body(request)
    _rate_limit(request, "receipt")
    return JsonResponse(
        receipts.receipt_status(receipt=data.get("receipt"), since=data.get("since"))
    )


@api_view("POST")
def receipt_withdraw(request):
    data = json_body(request)
    _rate_limit(request, "receipt")
    receipts.receipt_withdraw(receipt=data.get("receipt"))
    return JsonResponse(receipts.receipt_status(receipt=data.get("receipt")))
