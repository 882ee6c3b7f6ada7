"""The signing JSON API (/api/v1/...), documented in docs/signing-protocol.md.

Thin: parse and size-check input, rate-limit on request.client_key, call a
service, answer JSON. Every error is a JSON object {"error", "message"} with
a 4xx status. The POST endpoints take no session (the proof or the token is
the authorization) and so are exempt from CSRF; the one proof that relies on
the session cookie ({"type": "account"}) is checked against CSRF explicitly.
"""

from __future__ import annotations

import json
from functools import wraps

from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from core import text
from core.errors import AppError, json_error
from core.ratelimit import RateLimited, rate_limit
from letters.models import Letter, LetterState
from signatures import services
from signatures.models import Attestation, IssuerKey
from signatures.selectors import letter_figures, public_signatures_page
from signatures.services import BadRequest, NotFound, SigningError

MAX_BODY_BYTES = 16 * 1024


def api_view(*methods: str):
    """JSON errors for AppError and wrong methods; no CSRF (see module)."""

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = json_error(
                    405,
                    "method_not_allowed",
                    _("Use %(methods)s.") % {"methods": " or ".join(methods)},
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except AppError as exc:
                return json_error(exc.status, exc.code, exc.message)

        return wrapper

    return decorator


def json_body(request) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise BadRequest(_("The request body is too large."))
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(_("The request body is too large."))
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(_("The request body must be a JSON object.")) from None
    if not isinstance(data, dict):
        raise BadRequest(_("The request body must be a JSON object."))
    # A NUL or a lone surrogate can only arrive as a \u escape: strict UTF-8
    # refuses encoded surrogates and JSON refuses raw control characters. Most
    # bodies have no escape at all and skip the walk.
    if b"\\u" in raw:
        try:
            text.refuse_unstorable_json(data)
        except ValidationError as exc:
            raise BadRequest(exc.messages[0]) from None
    return data


def load_letter(request, slug: str) -> Letter:
    """A letter anyone may see: open, closed or delivered, and public (or
    unlisted with its secret `key` query parameter); else NotFound (404).
    The signing POSTs call it before reading the body, so a bad body sent to
    a wrong address says so."""
    letter = (
        Letter.objects.select_related("campaign", "issuer_key")
        .defer("body", "demands", "issuer_key__private_key_encrypted")
        .filter(slug=slug)
        .first()
    )
    return _visible(request, letter)


def _visible(request, letter: Letter | None) -> Letter:
    if (
        letter is None
        or letter.state in (LetterState.DRAFT, LetterState.REVIEW)
        or not letter.visible_with(request.GET.get("key", ""))
    ):
        raise NotFound(_("No letter with this address is open to the public."))
    return letter


def _rate_limit(request, scope: str) -> None:
    rate_limit(scope, getattr(request, "client_key", "unknown"))


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
                "variant": services.VARIANT,
            }
            if issuer
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


@api_view("POST")
def email_codes(request, slug):
    letter = load_letter(request, slug)
    data = json_body(request)
    _rate_limit(request, "email_code")
    services.email_code_request(letter=letter, email=data.get("email"))
    return JsonResponse(
        {"status": "sent", "message": _("If the address is valid, a code is on its way.")},
        status=202,
    )


@api_view("POST")
def tokens(request, slug):
    letter = load_letter(request, slug)
    data = json_body(request)
    _rate_limit(request, "token")
    proof = data.get("proof")
    blinded = services.b64url_decode(data.get("blinded_msg"), field="blinded_msg")
    visibility_key = request.GET.get("key", "")
    kind = proof.get("type") if isinstance(proof, dict) else None
    user = None
    if kind == "account":
        # The only cookie-authenticated request of the API: check CSRF.
        rejected = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if rejected is not None:
            return json_error(403, "csrf", _("Reload the page and try again (CSRF check failed)."))
        user = request.user
    blind_sig = services.token_issue(
        letter=letter, blinded_msg=blinded, proof=proof, user=user, visibility_key=visibility_key
    )
    return JsonResponse({"blind_sig": services.b64url_encode(blind_sig)})


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
        {"id": str(created.id), "receipt": created.receipt, "status": "counted"},
        status=201,
    )


def _redeem(request, slug):
    letter = load_letter(request, slug)
    data = json_body(request)
    optional = {}
    for name in ("public_name", "reveal_at", "department", "location", "comment"):
        if name in data:
            optional[name] = data[name]
    token = services.b64url_decode(data.get("token"), field="token")
    signature = services.b64url_decode(data.get("signature"), field="signature")
    visibility_key = request.GET.get("key", "")
    return services.signature_create(
        letter=letter,
        token=token,
        signature=signature,
        pseudonym=data.get("pseudonym"),
        attestations=data.get("attestations"),
        visibility_key=visibility_key,
        **optional,
    )


def _signature_list(request, letter: Letter) -> JsonResponse:
    try:
        page, rows, figures = public_signatures_page(letter, request.GET.get("page", "1"))
    except (PageNotAnInteger, EmptyPage):
        raise BadRequest(_("“page” must be a page number that exists.")) from None
    return JsonResponse(
        {
            "count": figures.count,
            "tokens_issued": figures.tokens_issued,
            "page": page.number,
            "pages": page.paginator.num_pages,
            "next": page.next_page_number() if page.has_next() else None,
            "results": [
                {
                    "pseudonym": row.pseudonym,
                    "public_name": row.public_name or None,
                    "department": row.department or None,
                    "location": row.location or None,
                    "comment": row.comment or None,
                }
                for row in rows
            ],
        }
    )


@api_view("POST")
def receipt_status(request):
    data = json_body(request)
    _rate_limit(request, "receipt")
    return JsonResponse(services.receipt_status(receipt=data.get("receipt")))


@api_view("POST")
def receipt_withdraw(request):
    data = json_body(request)
    _rate_limit(request, "receipt")
    services.receipt_withdraw(receipt=data.get("receipt"))
    return JsonResponse(services.receipt_status(receipt=data.get("receipt")))
