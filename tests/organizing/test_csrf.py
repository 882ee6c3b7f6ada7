"""core.csrf: forms work under Referrer-Policy no-referrer, and the
CSRF protection is not weakened by it."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _post_rename(client, *, token=True, **headers):
    client.get("/c/acme/")  # sets the CSRF cookie
    data = {"display_name": "New name"}
    if token:
        data["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    return client.post("/c/acme/me/name/", data, **headers)


@pytest.fixture
def member_client(roles):
    client = Client(enforce_csrf_checks=True)
    client.force_login(roles.member)
    return client


def test_null_origin_with_same_origin_fetch_metadata_is_accepted(member_client):
    response = _post_rename(
        member_client, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin", secure=True
    )
    assert response.status_code == 302


def test_null_origin_from_another_site_is_refused(member_client):
    response = _post_rename(
        member_client, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="cross-site", secure=True
    )
    assert response.status_code == 403


def test_null_origin_without_fetch_metadata_is_refused(member_client):
    assert _post_rename(member_client, HTTP_ORIGIN="null").status_code == 403


def test_https_without_referer_needs_same_origin_fetch_metadata(member_client):
    refused = _post_rename(member_client, secure=True, HTTP_SEC_FETCH_SITE="same-site")
    accepted = _post_rename(member_client, secure=True, HTTP_SEC_FETCH_SITE="same-origin")
    assert (refused.status_code, accepted.status_code) == (403, 302)


def test_fetch_metadata_never_replaces_the_token(member_client):
    response = _post_rename(
        member_client,
        token=False,
        HTTP_ORIGIN="null",
        HTTP_SEC_FETCH_SITE="same-origin",
        secure=True,
    )
    assert response.status_code == 403


def test_a_foreign_origin_is_refused(member_client):
    response = _post_rename(
        member_client, HTTP_ORIGIN="https://evil.example", HTTP_SEC_FETCH_SITE="same-origin"
    )
    assert response.status_code == 403


def test_deploy_check_insists_on_our_csrf_middleware(settings):
    from core.csrf import check_csrf_middleware

    assert check_csrf_middleware(None) == []
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "core.csrf.CsrfViewMiddleware"]
    assert [e.id for e in check_csrf_middleware(None)] == ["organizing.E001"]
