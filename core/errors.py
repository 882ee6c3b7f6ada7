"""Error pages (handler400/403/404/500 in config.urls): JSON under /api/
({"error", "message"}, as every answer of the API), pages elsewhere.

Unlike Django's defaults these do not run the CSRF check (`requires_csrf_token`),
which reads `request.POST`: on a 404 for a malformed multipart body that read
raised, and the 404 became a 500. The CSRF middleware has already put the
token where `{% csrf_token %}` finds it.
"""

from __future__ import annotations

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

from core.middleware import API_PATH_PREFIX
from core.text import InputRefused


def is_api(request) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


def json_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def bad_request(request, exception=None):
    # Other exceptions' texts are for the log (a host name, a setting), not for people.
    message = str(exception) if isinstance(exception, InputRefused) else ""
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
