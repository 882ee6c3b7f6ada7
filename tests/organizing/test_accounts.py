"""Accounts with django-allauth: sign-up with an emailed code, login,
password reset by code, TOTP activation and login with TOTP, allauth's MFA
pages, and rate limits that work without IP addresses."""

from __future__ import annotations

import importlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps as django_apps
from django.contrib.auth.signals import user_logged_in
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.crypto import client_key_for
from organizing.mfa import totp_current_code
from organizing.models import User
from tests.support.cache_contents import cache_entries
from tests.support.users import TEST_TOTP_SECRET, make_user

PASSWORD = "a long pass phrase 9"
CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.M)


def code_from_last_mail(to: str) -> str:
    message = mail.outbox[-1]
    assert message.to == [to]
    match = CODE.search(message.body)
    assert match, message.body
    return match.group(1)


def sign_up(client: Client, email: str, password: str = PASSWORD, **extra) -> None:
    response = client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password},
        **extra,
    )
    assert response.status_code == 302, response.content
    assert response["Location"] == reverse("account_email_verification_sent")


def verify(client: Client, email: str, **extra):
    return client.post(
        reverse("account_email_verification_sent"), {"code": code_from_last_mail(email)}, **extra
    )


def login(client: Client, email: str, password: str = PASSWORD, **extra):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


# --- sign-up and verification by typed code ------------------------------------


def test_sign_up_with_a_typed_code(db, client):
    sign_up(client, "new@personal.test")
    user = User.objects.get(email="new@personal.test")
    assert not EmailAddress.objects.get(user=user).verified
    # The mail carries a code to type, not a link a mail scanner could open.
    body = mail.outbox[0].body
    assert "http" not in body.split("code is listed below")[1]
    page = client.get(reverse("account_email_verification_sent"))
    assert page.status_code == 200
    # Not logged in before verification.
    assert client.get(reverse("organizing:dashboard")).status_code == 302

    response = verify(client, "new@personal.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("organizing:dashboard")
    assert EmailAddress.objects.get(user=user).verified
    assert client.get(reverse("organizing:dashboard")).status_code == 200


def test_a_wrong_code_is_refused(db, client):
    sign_up(client, "new@personal.test")
    response = client.post(reverse("account_email_verification_sent"), {"code": "AAAA-AAAA"})
    assert response.status_code == 200  # the form again, with an error
    assert response.context["form"].errors
    assert not EmailAddress.objects.get(email="new@personal.test").verified


def test_unverified_account_cannot_log_in(db, client):
    sign_up(client, "new@personal.test")
    fresh = Client()
    cache.clear()  # past the one-code-per-3-minutes limit on verification mails
    response = login(fresh, "new@personal.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert fresh.get(reverse("organizing:dashboard")).status_code == 302
    # A new code was sent; typing it finishes the login.
    assert len(mail.outbox) == 2
    response = verify(fresh, "new@personal.test")
    assert response.status_code == 302
    assert fresh.get(reverse("organizing:dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("email", "password1", "password2"),
    [
        ("not-an-email", PASSWORD, PASSWORD),
        ("new@personal.test", "short", "short"),
        ("new@personal.test", "1234567890123", "1234567890123"),
        ("new@personal.test", PASSWORD, PASSWORD + "x"),
    ],
)
def test_bad_sign_up_values_create_nothing(db, client, email, password1, password2):
    response = client.post(
        reverse("account_signup"),
        {"email": email, "password1": password1, "password2": password2},
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not User.objects.exists()
    assert not mail.outbox


def test_sign_up_with_a_taken_email_does_not_reveal_it(db, client):
    make_user(email="taken@personal.test")
    sign_up(client, "taken@personal.test")  # looks the same as a new sign-up
    assert User.objects.filter(email="taken@personal.test").count() == 1


# --- login -------------------------------------------------------------------------


def test_login_and_logout(db, client):
    make_user(email="m@personal.test", password="correct horse battery")
    response = login(client, "m@personal.test", "correct horse battery")
    assert response.status_code == 302
    assert response["Location"] == reverse("organizing:dashboard")
    assert client.get(reverse("organizing:dashboard")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("organizing:dashboard")).status_code == 302


def test_wrong_password_is_refused(db, client):
    make_user(email="m@personal.test")
    response = login(client, "m@personal.test", "wrong password")
    assert response.status_code == 200
    assert "not correct" in str(response.context["form"].errors)
    assert client.get(reverse("organizing:dashboard")).status_code == 302


def _midnights() -> set:
    now = timezone.now()
    return {
        day.replace(hour=0, minute=0, second=0, microsecond=0)
        for day in (now, now + timedelta(seconds=30))  # a test running over midnight
    }


def test_a_login_is_stored_to_the_day_only(db):
    """Login times to the microsecond would tell when each person was here."""
    member = make_user(email="m@personal.test", password="correct horse battery")
    organizer = make_user(mfa=True, email="o@personal.test", password="correct horse battery")
    assert login(Client(), member.email, "correct horse battery").status_code == 302
    browser = Client()
    assert login(browser, organizer.email, "correct horse battery")["Location"] == reverse(
        "mfa_authenticate"
    )
    response = browser.post(
        reverse("mfa_authenticate"), {"code": totp_current_code(TEST_TOTP_SECRET)}
    )
    assert response["Location"] == reverse("organizing:dashboard")
    for user in (member, organizer):
        user.refresh_from_db()
        assert user.last_login in _midnights()
        assert user.last_login.tzinfo is not None and user.last_login.utcoffset() == timedelta(0)


def test_django_s_microsecond_last_login_receiver_is_replaced():
    names = {lookup_key[0] for lookup_key, *_receiver in user_logged_in.receivers}
    assert "update_last_login" not in names
    assert "organizing_login_day" in names


def test_the_migration_truncates_stored_login_times(db):
    migration = importlib.import_module("organizing.migrations.0003_last_login_day")
    user = make_user(email="m@personal.test")
    never = make_user(email="n@personal.test")
    User.objects.filter(pk=user.pk).update(
        last_login=datetime(2026, 3, 4, 17, 23, 45, 123456, tzinfo=UTC)
    )
    User.objects.filter(pk=never.pk).update(last_login=None)
    migration.truncate_last_login(django_apps, None)
    user.refresh_from_db()
    never.refresh_from_db()
    assert user.last_login == datetime(2026, 3, 4, tzinfo=UTC)
    assert never.last_login is None


# --- password reset by code ---------------------------------------------------------


def test_password_reset_by_code(db, client):
    make_user(email="m@personal.test")
    response = client.post(reverse("account_reset_password"), {"email": "m@personal.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_password_reset_code")
    code = code_from_last_mail("m@personal.test")
    response = client.post(response["Location"], {"code": code})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_complete_password_reset")
    response = client.post(
        response["Location"],
        {"password1": "a brand new phrase 7", "password2": "a brand new phrase 7"},
    )
    assert response.status_code == 302
    assert User.objects.get(email="m@personal.test").check_password("a brand new phrase 7")
    assert login(Client(), "m@personal.test", "a brand new phrase 7").status_code == 302


def test_password_reset_with_a_wrong_code_changes_nothing(db, client):
    make_user(email="m@personal.test")
    client.post(reverse("account_reset_password"), {"email": "m@personal.test"})
    response = client.post(reverse("account_confirm_password_reset_code"), {"code": "ZZZZ-ZZZZ"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert User.objects.get(email="m@personal.test").check_password("correct horse battery")


def test_password_reset_for_an_unknown_address_looks_the_same(db, client):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@personal.test"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_password_reset_code")


# --- MFA --------------------------------------------------------------------------------


def test_totp_activation_and_login_with_totp(db, client):
    sign_up(client, "org@personal.test")
    verify(client, "org@personal.test")
    # Activating a factor needs a recent password: allauth asks again.
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response["Location"] == reverse("mfa_activate_totp")

    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret.encode() in page.content  # shown for manual entry
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000"})
    assert wrong.status_code == 200 and wrong.context["form"].errors
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_current_code(secret)})
    assert response.status_code == 302
    user = User.objects.get(email="org@personal.test")
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    # Logging in now takes the second factor.
    fresh = Client()
    response = login(fresh, "org@personal.test")
    assert response["Location"] == reverse("mfa_authenticate")
    assert fresh.get(reverse("organizing:dashboard")).status_code == 302  # not yet
    bad = fresh.post(reverse("mfa_authenticate"), {"code": "123456"})
    assert bad.status_code == 200 and bad.context["form"].errors
    response = fresh.post(reverse("mfa_authenticate"), {"code": totp_current_code(secret)})
    assert response.status_code == 302
    assert response["Location"] == reverse("organizing:dashboard")
    assert fresh.get(reverse("organizing:campaign_create")).status_code == 200


def test_login_with_a_recovery_code(db, client):
    from organizing.mfa import recovery_codes

    user = make_user(mfa=True, email="org@personal.test")
    code = recovery_codes(user)[0]
    response = login(client, "org@personal.test", "correct horse battery")
    assert response["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert code not in recovery_codes(user)  # single use


MFA_PAGES = [
    "mfa_index",
    "mfa_view_recovery_codes",
    "mfa_generate_recovery_codes",
    "mfa_list_webauthn",
    "mfa_add_webauthn",
    "mfa_deactivate_totp",
    "account_email",
    "account_change_password",
]


@pytest.mark.parametrize("name", MFA_PAGES)
def test_mfa_and_account_pages_render_after_reauthentication(db, client, name):
    make_user(mfa=True, email="org@personal.test")
    login(client, "org@personal.test", "correct horse battery")
    client.post(reverse("mfa_authenticate"), {"code": totp_current_code(TEST_TOTP_SECRET)})
    response = client.get(reverse(name))
    if response.status_code == 302 and "reauthenticate" in response["Location"]:
        # Sensitive pages ask for the password again (a fresh login is not enough).
        assert response["Location"].startswith(reverse("account_reauthenticate"))
        again = client.post(response["Location"], {"password": "correct horse battery"})
        assert again.status_code == 302
        response = client.get(reverse(name))
    assert response.status_code == 200, (name, response.status_code, response.get("Location"))


def test_totp_activation_page_renders_for_a_user_without_mfa(db, client):
    make_user(email="m@personal.test")
    login(client, "m@personal.test", "correct horse battery")
    client.post(reverse("account_reauthenticate"), {"password": "correct horse battery"})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    assert b"data:image/svg+xml" in response.content  # the QR code, from our own origin


# --- rate limits without IP addresses --------------------------------------------------

ADDRESS = "203.0.113.77"


def rate_limit_keys() -> list[str]:
    return [key for key, _value in cache_entries() if "allauth:rl" in key]


def test_repeated_failed_logins_are_limited_per_account(db, client):
    make_user(email="m@personal.test")
    for _ in range(5):
        response = login(client, "m@personal.test", "wrong", REMOTE_ADDR=ADDRESS)
        assert "not correct" in str(response.context["form"].errors)
    response = login(client, "m@personal.test", "wrong", REMOTE_ADDR=ADDRESS)
    assert "Too many failed login attempts" in str(response.context["form"].errors)
    # Even the right password waits now, from any address.
    response = login(
        Client(), "m@personal.test", "correct horse battery", REMOTE_ADDR="198.51.100.9"
    )
    assert "Too many failed login attempts" in str(response.context["form"].errors)


def test_failed_logins_are_limited_per_client_without_storing_its_address(db, client):
    for n in range(10):
        response = login(client, f"user{n}@personal.test", "wrong", REMOTE_ADDR=ADDRESS)
        assert "not correct" in str(response.context["form"].errors)
    response = login(client, "user10@personal.test", "wrong", REMOTE_ADDR=ADDRESS)
    assert "Too many failed login attempts" in str(response.context["form"].errors)
    # Another client is not affected: the limit is keyed on the client.
    response = login(Client(), "user11@personal.test", "wrong", REMOTE_ADDR="198.51.100.9")
    assert "not correct" in str(response.context["form"].errors)

    keys = rate_limit_keys()
    assert any(client_key_for(ADDRESS) in key for key in keys), keys
    assert not any(ADDRESS in key or "198.51.100.9" in key for key in keys), keys
    assert not any(ADDRESS in value for _key, value in cache_entries())


def test_forwarded_headers_do_not_select_the_bucket(db):
    """A client cannot escape its limit by sending X-Forwarded-For."""
    client = Client()
    for n in range(10):
        login(
            client,
            f"user{n}@personal.test",
            "wrong",
            REMOTE_ADDR=ADDRESS,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
    response = login(
        client,
        "user10@personal.test",
        "wrong",
        REMOTE_ADDR=ADDRESS,
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )
    assert "Too many failed login attempts" in str(response.context["form"].errors)
    assert not any("198.51.100" in key for key in rate_limit_keys())


def test_signup_is_rate_limited_per_client(db, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "3/m/ip"}
    client = Client()
    for n in range(3):
        sign_up(client, f"new{n}@personal.test", REMOTE_ADDR=ADDRESS)
        client.logout()
    response = client.post(
        reverse("account_signup"),
        {"email": "new9@personal.test", "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR=ADDRESS,
    )
    assert response.status_code == 429
    assert not User.objects.filter(email="new9@personal.test").exists()
    assert not any(ADDRESS in key for key in rate_limit_keys())
