"""Middleware that keeps client IP addresses out of everything we run, the
security and caching headers of every response, and the rule for input
(core.text) before any view.

The address is replaced, before any other code sees the request, by a keyed
hash (`request.client_key`). Rate limits key on that hash; nothing can log or
store the address because nothing downstream ever receives it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils.translation import gettext as _

from core import text
from core.crypto import client_key_for
from core.errors import API_PATH_PREFIX

# A reserved documentation address (RFC 5737), so code that insists on an
# address gets a harmless one.
PLACEHOLDER_ADDRESS = "192.0.2.1"


class ForgetClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        header = settings.CLIENT_ADDRESS_HEADER
        self.header = "HTTP_" + header.upper().replace("-", "_") if header else None

    def __call__(self, request):
        address = request.META.get("REMOTE_ADDR") or ""
        if self.header:
            # Set by our own reverse proxy (configured explicitly): the real
            # client. In a list, the last entry is the one our proxy added
            # (earlier ones come from the client and could be forged).
            forwarded = request.META.pop(self.header, "").split(",")[-1].strip()
            address = forwarded or address
        request.client_key = client_key_for(address)
        request.META["REMOTE_ADDR"] = PLACEHOLDER_ADDRESS
        # Proxies' headers would carry the address again.
        for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"):
            request.META.pop(header, None)
        return self.get_response(request)


def made_for_a_signed_in_user(request) -> bool:
    """Whether the response was built from a signed-in user's session.

    A view that reads the user or the session marks the session accessed
    (SessionMiddleware then adds `Vary: Cookie`); one that does not cannot
    have put anything of the user's into its response. Asking only then
    costs no extra session load.
    """
    session = getattr(request, "session", None)
    return session is not None and session.accessed and SESSION_KEY in session


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not set, and who may store a
    response: every answer of the JSON API (errors too, whoever made them) is
    `no-store`, and every response made for a signed-in person is `private,
    no-store`, so neither a shared cache nor the browser's disk keeps a copy
    of an organizer's pages. A view that set its own Cache-Control (public
    pages, static files, downloads) keeps it.

    It must stay above SessionMiddleware, so that it sees the session as the
    view left it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        response.setdefault("X-Content-Type-Options", "nosniff")
        if not response.has_header("Cache-Control"):
            if request.path_info.startswith(API_PATH_PREFIX):
                response["Cache-Control"] = "no-store"
            elif made_for_a_signed_in_user(request):
                response["Cache-Control"] = "private, no-store"
        return response


class RefuseUnreadableInputMiddleware:
    """core.text's rule for query parameters and form fields, before any
    view, form, filter or query sees them: a clear 400 (InputRefused), never
    a NUL reaching the database (PostgreSQL refuses it: a 500).

    Query parameters are short single-line values (keys, fingerprints, page
    numbers, filters, searches): no control or invisible character at all.
    Form fields may hold lines and tabs (a letter's text); the fields that
    show names to others refuse the rest themselves (core.text).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name, values in request.GET.lists():
            if text.has_invisible_characters(name):
                raise text.InputRefused(text.invisible_message(_("a parameter name")))
            if any(text.has_invisible_characters(value) for value in values):
                raise text.InputRefused(text.invisible_message(name))
        # Reading POST parses form bodies only (JSON is left to its view); a
        # malformed body raises here, and Django answers 400.
        for name, values in request.POST.lists():
            if text.unstorable(name):
                raise text.InputRefused(text.unstorable_message(_("a field name")))
            if any(text.unstorable(value) for value in values):
                raise text.InputRefused(text.unstorable_message(name))
        return self.get_response(request)
