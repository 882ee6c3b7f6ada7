"""The JSON API's helpers: a view decorator that answers every AppError and
wrong method as JSON, and the reading of a size-limited JSON object body.

Error bodies are {"error": <code>, "message": <for people>} (core.errors).
"""

from __future__ import annotations

import json
from functools import wraps

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from core import text
from core.errors import AppError, json_error

MAX_BODY_BYTES = 16 * 1024


class BadBody(AppError):
    """The request body is not a JSON object this API can read."""

    status, code = 400, "bad_request"


def api_view(*methods: str):
    """JSON errors for AppError and wrong methods. CSRF-exempt: the API's
    POSTs take no session (the proof or the token is the authorization); a
    view that does rely on the session cookie checks CSRF itself."""

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
    """The body as a JSON object, at most MAX_BODY_BYTES, with no NUL or lone
    surrogate anywhere in it (core.text); else BadBody."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise BadBody(_("The request body is too large."))
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadBody(_("The request body is too large."))
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadBody(_("The request body must be a JSON object.")) from None
    if not isinstance(data, dict):
        raise BadBody(_("The request body must be a JSON object."))
    # A NUL or a lone surrogate can only arrive as a \u escape: strict UTF-8
    # refuses encoded surrogates and JSON refuses raw control characters. Most
    # bodies have no escape at all and skip the walk.
    if b"\\u" in raw:
        try:
            text.refuse_unstorable_json(data)
        except ValidationError as exc:
            raise BadBody(exc.messages[0]) from None
    return data
