"""The one error family, and where errors become answers.

Every domain error subclasses AppError: a code (for programs: the JSON API's
"error", the websocket's error frame), an HTTP status and a message for
people. `error_response` turns an error into an answer, JSON under /api/
({"error", "message"}, as every answer of the API) and a page elsewhere; the
error handlers (handler400/403/404/500 in config.urls), the API's views, the
Redis-down middleware and AppErrorMiddleware (an AppError no view caught)
all answer through it. The websocket consumer sends the same code and
message in its error frame.

Unlike Django's defaults the handlers do not run the CSRF check
(`requires_csrf_token`), which reads `request.POST`: on a 404 for a malformed
multipart body that read raised, and the 404 became a 500. The CSRF
middleware has already put the token where `{% csrf_token %}` finds it.
"""

from __future__ import annotations

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist, loader
from django.utils.translation import gettext as _

# The JSON API (signatures/urls.py): its errors are JSON, its answers never stored.
API_PATH_PREFIX = "/api/"


class AppError(Exception):
    """An error a person or a client can act on.

    Subclasses set `status` and `code`; a few also derive from the Django
    exception that code around them already expects (ValidationError for
    forms, PermissionDenied for access checks).
    """

    status = 400
    code = "bad_request"

    def __init__(self, message="", *args, code: str | None = None, **kwargs):
        super().__init__(message, *args, **kwargs)
        self.message = str(message)
        # After the base's __init__: ValidationError sets its own `code`.
        self.code = code or type(self).code


def is_api(request) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def error_response(request, error: AppError):
    """The answer for `error`: JSON under /api/, else the page of its status."""
    if is_api(request):
        return json_error(error.status, error.code, error.message)
    try:
        template = loader.get_template(f"{error.status}.html")
    except TemplateDoesNotExist:
        template = loader.get_template("400.html")
    return render(request, template.template.name, {"message": error.message}, status=error.status)


class AppErrorMiddleware:
    """Answers for an AppError that no view caught (one place for all apps)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        # A 5xx (a gpg failure, say) goes on to Django's handler, which logs
        # its traceback and answers through server_error below.
        if isinstance(exception, AppError) and exception.status < 500:
            return error_response(request, exception)
        return None


def bad_request(request, exception=None):
    # Other exceptions' texts are for the log (a host name, a setting), not for people.
    message = exception.message if isinstance(exception, AppError) else ""
    if is_api(request):
        return json_error(400, "bad_request", message or _("The request could not be understood."))
    return render(request, "400.html", {"message": message}, status=400)


def permission_denied(request, exception=None):
    if is_api(request):
        return json_error(403, "forbidden", _("You may not do this."))
    return render(request, "403.html", status=403)


def page_not_found(request, exception=None):
    if is_api(request):
        return json_error(404, "not_found", _("There is nothing at this address."))
    return render(request, "404.html", status=404)


def server_error(request):
    if is_api(request):
        return json_error(500, "server_error", _("Something went wrong; try again later."))
    # Without a context: whatever failed (the database, a context processor)
    # must not fail the error page too.
    return HttpResponseServerError(loader.get_template("500.html").render())
