from django.apps import AppConfig
from django.http import HttpRequest


def _set_request_encoding(request, value):
    """HttpRequest.encoding's setter, as Django 5.2 has it, but without its
    `hasattr(self, "GET")`, which parses the query string only to drop it.
    Django sets the encoding in the request's constructor when the
    Content-Type names a charset, before any middleware: a query string of
    more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields raised TooManyFieldsSent
    there, out of every handler (a 500 from gunicorn and uvicorn). Parsed
    later, where Django expects it, it is a 400."""
    request._encoding = value
    request.__dict__.pop("GET", None)  # the parsed query string, if any
    if hasattr(request, "_post"):
        del request._post


class CoreConfig(AppConfig):
    """Cross-cutting helpers with no models (middleware, CSRF, logging, ...).

    An app only so that its system checks register, its templates and
    template tags are found, and HttpRequest.encoding is mended (ready)."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core import checks, csrf  # noqa: F401 - they register system checks

        # A request's constructor must not parse its query string (see above).
        HttpRequest.encoding = HttpRequest.encoding.setter(_set_request_encoding)
