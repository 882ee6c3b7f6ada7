"""An invitation opened before having an account survives signing up,
confirming the address and signing in (organizing.pending_invitation): the
visitor lands on the join page, however they reached the sign-up page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from organizing import services
from organizing.models import Invitation, Membership
from organizing.pending_invitation import COOKIE
from tests.organizing.test_accounts import PASSWORD, login, sign_up, verify
from tests.support.users import make_user


@pytest.fixture
def invitation(roles):
    return services.invitation_create(actor=roles.organizer, campaign=roles.campaign, max_uses=5)


def join_path(created) -> str:
    return reverse("organizing:join", args=[created.token])


def open_invitation(client: Client, created) -> None:
    response = client.get(join_path(created))
    assert response.status_code == 200
    cookie = response.cookies[COOKIE]
    # Kept in the visitor's browser only, signed, out of reach of scripts.
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert 0 < int(cookie["max-age"]) <= 7 * 24 * 3600
    assert created.token in cookie.value and cookie.value != created.token


def test_signing_up_without_next_then_confirming_leads_back_to_the_invitation(roles, invitation):
    client = Client()
    open_invitation(client, invitation)
    # The header's "Create account": no ?next= on the way.
    sign_up(client, "newcomer@personal.test")
    response = verify(client, "newcomer@personal.test")
    assert response.status_code == 302
    assert response["Location"] == join_path(invitation)
    page = client.get(response["Location"])
    assert b"Your display name in this campaign" in page.content
    # Joining forgets the invitation: the next sign-in goes to the dashboard.
    joined = client.post(join_path(invitation), {"display_name": "Newcomer"})
    assert joined.status_code == 302
    assert joined.cookies[COOKIE].value == ""
    assert Membership.objects.filter(user__email="newcomer@personal.test").exists()
    # No server-side copy of the token anywhere in the sessions.
    for session in Session.objects.all():
        assert invitation.token not in str(session.get_decoded())


def test_signing_in_another_day_still_leads_to_the_invitation(roles, invitation):
    person = make_user(email="later@personal.test", password=PASSWORD)
    client = Client()
    open_invitation(client, invitation)
    response = login(client, person.email)
    assert response.status_code == 302
    assert response["Location"] == join_path(invitation)
    # And the dashboard says so, should they go there instead.
    dashboard = client.get(reverse("organizing:dashboard")).content.decode()
    assert "You were invited to join Acme workers." in dashboard
    assert f'href="{join_path(invitation)}"' in dashboard
    assert "You are not part of a campaign yet" not in dashboard


def test_a_next_address_still_wins(roles, invitation):
    person = make_user(email="next@personal.test", password=PASSWORD)
    client = Client()
    open_invitation(client, invitation)
    response = client.post(
        reverse("account_login") + "?next=/c/acme/",
        {"login": person.email, "password": PASSWORD},
    )
    assert response["Location"] == "/c/acme/"


@pytest.mark.parametrize("change", ["revoked", "expired", "used_up", "member", "forged"])
def test_an_invitation_that_cannot_be_accepted_is_not_offered(roles, invitation, change):
    person = make_user(email="someone@personal.test", password=PASSWORD)
    client = Client()
    open_invitation(client, invitation)
    if change == "revoked":
        Invitation.objects.filter(pk=invitation.invitation.pk).update(revoked_at=timezone.now())
    elif change == "expired":
        Invitation.objects.filter(pk=invitation.invitation.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
    elif change == "used_up":
        Invitation.objects.filter(pk=invitation.invitation.pk).update(uses=5)
    elif change == "member":
        services.invitation_accept(user=person, token=invitation.token, display_name="In")
    else:
        client.cookies[COOKIE] = invitation.token  # unsigned: not ours
    response = login(client, person.email)
    assert response["Location"] == reverse("organizing:dashboard")
    dashboard = client.get(reverse("organizing:dashboard")).content.decode()
    assert "You were invited" not in dashboard


def test_only_anonymous_visitors_get_the_cookie(roles, invitation, client_for):
    response = client_for(make_user()).get(join_path(invitation))
    assert COOKIE not in response.cookies
    response = client_for(roles.member).get(join_path(invitation))
    assert COOKIE not in response.cookies
