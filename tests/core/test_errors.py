"""One error family: every domain error is an AppError, answered in one place."""

from __future__ import annotations

import inspect

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory, override_settings
from django.urls import path

from config import urls as project_urls
from core.errors import AppError, AppErrorMiddleware, error_response
from core.text import InputRefused
from core.unavailable import ServiceUnavailable
from discussions.validation import ChannelError
from letters import services as letter_services
from organizing import services as organizing_services
from petitions.openpgp import KeyRejected, OpenPGPError
from signatures import errors as signature_errors

DOMAIN_MODULES = [letter_services, organizing_services, signature_errors]


def test_every_domain_error_is_an_app_error():
    errors = [
        obj
        for module in DOMAIN_MODULES
        for _name, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == module.__name__
    ]
    errors += [ChannelError, OpenPGPError, KeyRejected, InputRefused, ServiceUnavailable]
    assert len(errors) > 10
    for error in errors:
        assert issubclass(error, AppError), error
        assert isinstance(error.status, int) and isinstance(error.code, str), error


def test_code_status_and_message_survive_the_django_bases():
    conflict = letter_services.RevisionConflict(current=None, base=None)
    assert (conflict.status, conflict.code) == (409, "stale")
    assert isinstance(conflict, ValidationError) and conflict.messages == [conflict.message]
    channel = ChannelError("Bad.", "bad_field")
    assert (channel.code, channel.message, channel.messages) == ("bad_field", "Bad.", ["Bad."])
    mfa = organizing_services.MFARequired("Confirm.", needs_setup=False)
    assert isinstance(mfa, PermissionDenied) and (mfa.status, mfa.code) == (403, "mfa_required")
    assert str(mfa) == "Confirm."


class Gone(AppError):
    status, code = 410, "gone"


def gone_view(request):
    raise Gone("This letter is closed.")


def broken_view(request):
    raise OpenPGPError("gpg said no")


# The project's URLs too: the pages' layout links to them.
urlpatterns = [
    path("api/v1/gone", gone_view),
    path("page/gone", gone_view),
    path("page/broken", broken_view),
    *project_urls.urlpatterns,
]


@override_settings(ROOT_URLCONF=__name__)
def test_an_uncaught_app_error_is_answered_in_its_shape(client):
    response = client.get("/api/v1/gone")
    assert response.status_code == 410
    assert response.json() == {"error": "gone", "message": "This letter is closed."}
    assert response["Cache-Control"] == "no-store"
    response = client.get("/page/gone")
    assert response.status_code == 410
    assert b"This letter is closed." in response.content
    assert response["Content-Type"].startswith("text/html")


@override_settings(ROOT_URLCONF=__name__)
def test_a_server_side_app_error_is_left_to_djangos_handler(client):
    """A 5xx is logged with its traceback by Django, and its text (for the
    log) is not shown."""
    client.raise_request_exception = False
    response = client.get("/page/broken")
    assert response.status_code == 500
    assert b"gpg said no" not in response.content
    assert AppErrorMiddleware(lambda r: None).process_exception(None, OpenPGPError("x")) is None


@pytest.mark.parametrize(("path", "json"), [("/api/v1/x", True), ("/c/x/", False)])
def test_error_response_shape(path, json):
    response = error_response(RequestFactory().get(path), ServiceUnavailable())
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json" if json else "text/html")
