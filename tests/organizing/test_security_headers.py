"""Security headers on every page, and no inline script or style anywhere.

The crawl starts at the main pages of each role and follows same-origin links
(GET only), so pages added by other areas are checked too.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urldefrag, urlparse

import pytest
from django.test import Client
from django.urls import reverse

from discussions import services as channel_services
from letters.models import LetterState
from organizing import services
from tests.petitions.factories import make_letter
from tests.support.users import TEST_TOTP_SECRET

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
STYLE_ATTR = re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.I)
STYLE_TAG = re.compile(r"<style\b", re.I)
EVENT_ATTR = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)
HREF = re.compile(r"""href\s*=\s*["']([^"'#]*)""", re.I)
# Data blocks (allauth passes settings to its static scripts this way) are not run.
DATA_TYPES = ("application/json", "application/ld+json")


def inline_code(html: str) -> list[str]:
    """Everything the strict CSP would block, as short descriptions."""
    found = []
    for attrs in SCRIPT_TAG.findall(html):
        if re.search(r"\ssrc\s*=", " " + attrs):
            continue
        type_match = re.search(r"""type\s*=\s*["']?([^"'\s>]+)""", attrs)
        if type_match and type_match.group(1).lower() in DATA_TYPES:
            continue
        found.append(f"inline <script{attrs}>")
    found += [f"style attribute: {m[:80]}" for m in STYLE_ATTR.findall(html)]
    found += ["<style> element"] * len(STYLE_TAG.findall(html))
    found += [f"event handler: {m[:80]}" for m in EVENT_ATTR.findall(html)]
    found += ["javascript: URL"] * len(JS_URL.findall(html))
    return found


def assert_security_headers(response, url: str) -> None:
    csp = response.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp, url
    assert "script-src 'self'" in csp, url
    assert "style-src 'self'" in csp, url
    assert "frame-ancestors 'none'" in csp, url
    assert "object-src 'none'" in csp, url
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
    assert "http:" not in csp and "https:" not in csp, url  # no other origin allowed
    assert response.get("X-Frame-Options") == "DENY", url
    assert response.get("Referrer-Policy") == "no-referrer", url
    assert response.get("Cross-Origin-Opener-Policy") == "same-origin", url
    assert response.get("X-Content-Type-Options") == "nosniff", url
    permissions = response.get("Permissions-Policy", "")
    for feature in ("camera=()", "microphone=()", "geolocation=()", "interest-cohort=()"):
        assert feature in permissions, url


def start_pages(roles, role: str) -> list[str]:
    common = ["/", reverse("organizing:campaign", args=["acme"]), "/no-such-page/"]
    if role == "anonymous":
        return common + [
            reverse("account_login"),
            reverse("account_signup"),
            reverse("account_reset_password"),
            reverse("organizing:join", args=["unknown-token"]),
        ]
    return common + [
        reverse("organizing:dashboard"),
        reverse("organizing:campaign_create"),
        reverse("organizing:manage", args=["acme"]),
        reverse("mfa_index"),
        reverse("mfa_activate_totp"),
        reverse("mfa_view_recovery_codes"),
        reverse("mfa_list_webauthn"),
        reverse("mfa_add_webauthn"),
        reverse("account_email"),
        reverse("account_change_password"),
    ]


def logged_in(user) -> Client:
    """A client that went through the real login (and reauthentication), so
    allauth's sensitive pages render instead of redirecting."""
    from organizing.mfa import totp_current_code

    client = Client()
    if user is None:
        return client
    client.post(
        reverse("account_login"), {"login": user.email, "password": "correct horse battery"}
    )
    if services.account_has_mfa(user):
        client.post(reverse("mfa_authenticate"), {"code": totp_current_code(TEST_TOTP_SECRET)})
    client.post(reverse("account_reauthenticate"), {"password": "correct horse battery"})
    assert client.get(reverse("organizing:dashboard")).status_code == 200
    return client


def crawl(client: Client, pages: list[str], limit: int = 80):
    seen: set[str] = set()
    queue = deque(pages)
    while queue and len(seen) < limit:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        yield url, response
        if response.status_code in (301, 302) and response["Location"].startswith("/"):
            queue.append(response["Location"])
        if "text/html" not in response.get("Content-Type", ""):
            continue
        for href in HREF.findall(response.content.decode()):
            href = urldefrag(href)[0]
            parsed = urlparse(href)
            if parsed.scheme or parsed.netloc or not href.startswith("/"):
                continue
            if href.startswith(("/static/", "/operator/")) or "logout" in href:
                continue
            queue.append(href)


@pytest.mark.parametrize(
    "role", ["anonymous", "member", "delegate", "organizer", "other_organizer"]
)
def test_every_page_has_the_headers_and_no_inline_code(roles, role):
    created = services.invitation_create(actor=roles.organizer, campaign=roles.campaign)
    client = logged_in(roles.users()[role])
    pages = start_pages(roles, role) + [reverse("organizing:join", args=[created.token])]
    html_pages = 0
    for url, response in crawl(client, pages):
        assert response.status_code < 500, (url, response.status_code)
        assert_security_headers(response, url)
        if role != "anonymous":
            assert "no-store" in response.get("Cache-Control", ""), url
        if "text/html" in response.get("Content-Type", ""):
            html_pages += 1
            problems = inline_code(response.content.decode())
            assert not problems, (url, problems)
    assert html_pages >= 5


def test_pages_made_by_posts_have_no_inline_code_either(roles, client_for):
    client = client_for(roles.organizer)
    response = client.post(
        reverse("organizing:invitation_create", args=["acme"]),
        {"role": "member", "max_uses": 1, "valid_days": 1},
    )
    assert response.status_code == 200
    assert_security_headers(response, "invitation_created")
    assert not inline_code(response.content.decode())
    response = client.post(reverse("organizing:invitation_create", args=["acme"]), {})
    assert response.status_code == 400
    assert_security_headers(response, "invitation_create 400")
    assert not inline_code(response.content.decode())


def test_error_pages_carry_the_headers(roles, client_for):
    client = client_for(roles.member)
    for url, status in [
        ("/no-such-page/", 404),
        (reverse("organizing:manage", args=["acme"]), 403),
        (reverse("organizing:member_rename", args=["acme"]), 405),
    ]:
        response = client.get(url)
        assert response.status_code == status
        assert_security_headers(response, url)


def test_every_api_answer_is_no_store(roles, client):
    """A 405 answered before the view ran carried no Cache-Control; neither
    did Django's own pages under /api/."""
    letter = make_letter(roles.campaign, state=LetterState.OPEN)
    tokens = reverse("signatures:api_tokens", args=[letter.slug])
    answers = {
        "200": client.get(reverse("signatures:api_letters")),
        "405": client.get(tokens),
        "400": client.post(tokens, "{not json", content_type="application/json"),
        "404 letter": client.get(reverse("signatures:api_letter", args=["no-such-letter"])),
        "404 url": client.get("/api/v1/no-such-endpoint"),
    }
    assert [r.status_code for r in answers.values()] == [200, 405, 400, 404, 404]
    for name, response in answers.items():
        assert response.get("Cache-Control") == "no-store", name


def signed_in_pages(roles) -> list[str]:
    letter = make_letter(roles.campaign, state=LetterState.DRAFT)
    channel = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="general"
    )
    slug = roles.campaign.slug
    return [
        reverse("organizing:dashboard"),
        reverse("organizing:manage", args=[slug]),
        reverse("organizing:settings", args=[slug]),
        reverse("organizing:audit", args=[slug]),
        reverse("letters:manage_list", args=[slug]),
        reverse("letters:manage_edit", args=[slug, letter.pk]),
        reverse("petitions:list", args=[slug]),
        reverse("petitions:keys", args=[slug]),
        reverse("organizing:channel_list", args=[slug]),
        reverse("organizing:channel_room", args=[slug, channel.pk]),
        reverse("organizing:channel_settings", args=[slug, channel.pk]),
        reverse("account_email"),
        reverse("mfa_index"),
        reverse("organizing:manage", args=[roles.other_campaign.slug]),  # 403
        "/no-such-page/",  # 404
        # Public pages, made for this person: their name is in the header.
        "/",
        reverse("organizing:campaign", args=[slug]),
    ]


def test_pages_made_for_a_signed_in_person_are_never_stored(roles, client_for):
    """Organizer pages carried no Cache-Control: a shared cache or the
    browser's disk could keep member lists, invite codes and letter drafts."""
    pages = signed_in_pages(roles)
    client = client_for(roles.organizer)
    statuses = set()
    for url in pages:
        response = client.get(url)
        statuses.add(response.status_code)
        directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
        assert {"private", "no-store"} <= directives, (url, response.get("Cache-Control"))
    assert {200, 403, 404} <= statuses


def test_public_pages_and_static_files_keep_their_caching(roles, client_for):
    letter = make_letter(roles.campaign, state=LetterState.OPEN)
    anonymous = client_for(None)
    public_pages = [
        "/",
        reverse("organizing:campaign", args=["acme"]),
        reverse("letters:public", args=[letter.slug]),
    ]
    for url in public_pages:
        response = anonymous.get(url)
        assert response.status_code == 200
        assert "Cache-Control" not in response, url
    for client in (anonymous, client_for(roles.organizer)):
        response = client.get("/static/css/app.css")
        response.close()
        assert "public" in response["Cache-Control"] and "max-age" in response["Cache-Control"]


def test_base_layout_sends_no_referrer(client, db):
    """The <meta> policy overrides the header for the document, so it must say
    the same; forms still work through core.csrf (see test_csrf.py and
    the browser journeys)."""
    html = client.get("/").content.decode()
    policies = re.findall(r'<meta name="referrer" content="([^"]+)"', html)
    assert policies == ["no-referrer"]


def test_static_files_carry_the_headers(db, client):
    response = client.get("/static/css/app.css")
    response.close()
    assert response.status_code == 200
    assert response.get("X-Content-Type-Options") == "nosniff"
    assert response.get("Cross-Origin-Resource-Policy") == "same-origin"


def test_hsts_only_over_https(db, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_SSL_REDIRECT = False
    client = Client()
    assert "Strict-Transport-Security" not in client.get("/")
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_security_headers(response, "/ over https")


def test_https_redirect_when_served_over_https(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/c/acme/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/c/acme/"


def test_inline_code_detector_catches_what_the_csp_would_block():
    assert inline_code("<script>alert(1)</script>")
    assert inline_code('<script type="module">x()</script>')
    assert inline_code('<div style="display:none">')
    assert inline_code("<style>body{}</style>")
    assert inline_code('<button onclick="x()">')
    assert inline_code('<a href="javascript:x()">')
    assert not inline_code('<script src="/static/js/app.js"></script>')
    assert not inline_code('<script type="application/json">{"a": 1}</script>')
    assert not inline_code("<p>The style= attribute and onclick= are banned.</p>")
