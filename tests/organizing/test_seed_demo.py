"""seed_demo: idempotent, prints logins that work (TOTP step included)."""

from __future__ import annotations

import io
import re

from django.apps import apps
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from organizing.models import AuditEntry, Campaign, Membership, Role, User


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


# signatures' hook prints a fresh batch of invite codes on every run by design
# (they are stored as HMACs, so earlier ones cannot be printed again).
FRESH_EACH_RUN = {"signatures.InviteCode"}
FRESH_AUDIT_ACTIONS = {"invite_codes.create"}


def row_counts() -> dict[str, int]:
    counts = {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.label not in FRESH_EACH_RUN
    }
    counts["organizing.AuditEntry"] = AuditEntry.objects.exclude(
        action__in=FRESH_AUDIT_ACTIONS
    ).count()
    return counts


def test_seed_demo_creates_the_demo_campaign_and_roles(db):
    output = seed()
    campaign = Campaign.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(campaign=campaign).values_list("user__email", "role"))
    # Other areas' seed hooks may add more people (e.g. a second organizer).
    assert (
        roles.items()
        >= {
            "organizer@demo.invalid": Role.ORGANIZER,
            "delegate@demo.invalid": Role.DELEGATE,
            "member@demo.invalid": Role.MEMBER,
        }.items()
    )
    assert "/c/demo/" in output


def test_seed_demo_is_idempotent(db):
    seed()
    first = row_counts()
    seed()
    assert row_counts() == first


def test_seed_demo_restores_a_changed_password(db):
    seed()
    user = User.objects.get(email="member@demo.invalid")
    user.set_password("something else entirely")
    user.save()
    seed()
    user.refresh_from_db()
    assert user.check_password("demo-member-pass")


def printed_logins(output: str) -> dict[str, dict]:
    logins = {}
    current = None
    for line in output.splitlines():
        match = re.match(r"\s+(organizer|delegate|member)\s+(\S+@\S+)\s+password: (\S+)", line)
        if match:
            current = match.group(1)
            logins[current] = {"email": match.group(2), "password": match.group(3)}
            continue
        secret = re.search(r"TOTP secret ([A-Z2-7]+)", line)
        if secret and current:
            logins[current]["secret"] = secret.group(1)
            codes = re.search(r"recovery codes: (.+)$", line)
            logins[current]["recovery"] = codes.group(1).split(", ") if codes else []
    return logins


def demo_codes() -> dict[str, str]:
    out = io.StringIO()
    call_command("demo_codes", stdout=out)
    return {line.split()[0]: line.split()[-1] for line in out.getvalue().splitlines()}


def test_a_person_logs_in_with_the_printed_credentials(db):
    logins = printed_logins(seed())
    assert set(logins) == {"organizer", "delegate", "member"}
    codes = demo_codes()
    assert set(codes) == {"organizer", "delegate"}

    for role, login in logins.items():
        client = Client()
        response = client.post(
            reverse("account_login"), {"login": login["email"], "password": login["password"]}
        )
        assert response.status_code == 302, role
        if role == "member":
            assert response["Location"] == reverse("organizing:dashboard")
        else:
            # Organizers and delegates have a second factor: the TOTP step.
            assert response["Location"] == reverse("mfa_authenticate")
            assert re.fullmatch(r"\d{6}", codes[role])
            response = client.post(reverse("mfa_authenticate"), {"code": codes[role]})
            assert response.status_code == 302, role
        assert client.get(reverse("organizing:dashboard")).status_code == 200
        campaign_page = client.get(reverse("organizing:campaign", args=["demo"]))
        assert campaign_page.status_code == 200
        manage = client.get(reverse("organizing:manage", args=["demo"]))
        # The overview is the organizers' and the delegates' (issue 17).
        assert manage.status_code == (403 if role == "member" else 200)


def test_a_printed_recovery_code_works(db):
    logins = printed_logins(seed())
    delegate = logins["delegate"]
    assert len(delegate["recovery"]) == 3
    client = Client()
    client.post(
        reverse("account_login"), {"login": delegate["email"], "password": delegate["password"]}
    )
    response = client.post(reverse("mfa_authenticate"), {"code": delegate["recovery"][0]})
    assert response.status_code == 302
    assert client.get(reverse("organizing:dashboard")).status_code == 200


def test_the_login_address_printed_is_where_the_site_is_served(db, settings):
    # `make run PORT=8711` leaves SITE_URL unset: settings derive it from
    # HOST and PORT (tests/organizing/test_settings.py); what is printed follows.
    settings.SITE_URL = "http://127.0.0.1:8711"
    output = seed()
    assert "Log in at http://127.0.0.1:8711/accounts/login/ with:" in output
    assert ":8000" not in output
