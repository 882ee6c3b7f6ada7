"""A password alone never acts as an organizer, a delegate or an operator.

The audit's reproduction: a staff user with TOTP who organizes a campaign
logged in at /operator/login/ (Django's admin login) with the password only,
and that session passed every organizer check because the checks asked
whether the *account* had a second factor, not whether *this session*
completed it. These tests replay that attack and its variants: the admin
login, a session made without the second factor (what the admin login
made), a half-finished allauth login, and a websocket that outlives the
second factor it was opened with.
"""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from discussions import services as channel_services
from discussions.consumers import CLOSE_FORBIDDEN
from discussions.models import Message
from organizing.mfa import totp_current_code, totp_enable
from organizing.models import AuditEntry, Invitation, Membership, Role, User
from signatures.models import InviteCode
from tests.discussions.helpers import (
    ROUTER,
    closed_with,
    connect,
    fake_ciphertext,
    receive_type,
)
from tests.support.factories import MembershipFactory
from tests.support.sessions import login_with_mfa
from tests.support.users import TEST_TOTP_SECRET

PASSWORD = "correct horse battery"


@pytest.fixture
def staff_organizer(roles):
    """The audit's account: staff, TOTP, organizer of `acme`."""
    user = roles.organizer
    user.is_staff = True
    user.is_superuser = True
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def targets(roles):
    extra = MembershipFactory(campaign=roles.campaign, role=Role.MEMBER, display_name="Extra")
    channel = channel_services.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="general"
    )
    return extra, channel


def password_only_client(user) -> Client:
    """A session that knows the password and nothing more: what Django's
    admin login (or any login that skips allauth's stages) creates."""
    client = Client()
    client.force_login(user)
    return client


def attacks(roles, extra, channel):
    """What the audit did with the password-only session, and more."""
    slug = roles.campaign.slug
    return [
        ("get", reverse("organizing:manage", args=[slug]), {}),
        ("get", reverse("organizing:audit", args=[slug]), {}),
        (
            "post",
            reverse("organizing:invitation_create", args=[slug]),
            {"role": "organizer", "max_uses": 5, "valid_days": 7},
        ),
        ("post", reverse("organizing:member_remove", args=[slug, extra.pk]), {}),
        ("post", reverse("organizing:member_role", args=[slug, extra.pk]), {"role": "organizer"}),
        ("post", reverse("organizing:channel_archive", args=[slug, channel.pk]), {}),
        ("post", reverse("signatures:invite_codes", args=[slug]), {"count": 10, "batch": "x"}),
        ("get", reverse("petitions:list", args=[slug]), {}),
        ("get", reverse("petitions:keys", args=[slug]), {}),
        ("get", reverse("letters:manage_list", args=[slug]), {}),
        (
            "post",
            reverse("organizing:campaign_create"),
            {
                "name": "N",
                "slug": "n",
                "employer_name": "E",
                "k_threshold": 5,
                "approval_quorum": 1,
                "display_name": "Founder",
            },
        ),
    ]


def state(extra, channel):
    extra.refresh_from_db()
    channel.refresh_from_db()
    return (
        AuditEntry.objects.count(),
        Invitation.objects.count(),
        InviteCode.objects.count(),
        Membership.objects.count(),
        extra.role,
        channel.is_archived,
    )


def test_the_admin_login_takes_no_password(staff_organizer, roles, targets):
    client = Client()
    login = reverse("admin:login")
    response = client.get(login)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    # The audit's request: the password posted to the admin's login form.
    response = client.post(
        login + "?next=/operator/", {"username": staff_organizer.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("organizing:manage", args=["acme"])).status_code == 302
    assert client.get("/operator/").status_code == 302


def test_a_password_only_session_passes_no_organizer_gate(staff_organizer, roles, targets):
    extra, channel = targets
    client = password_only_client(staff_organizer)
    before = state(extra, channel)
    for method, url, data in attacks(roles, extra, channel):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url, response.status_code)
        assert b"Confirm with your second factor" in response.content, url
    assert state(extra, channel) == before


def test_a_password_only_session_passes_no_delegate_gate(roles):
    client = password_only_client(roles.delegate)
    for url in (
        reverse("petitions:list", args=["acme"]),
        reverse("petitions:keys", args=["acme"]),
        reverse("signatures:invite_codes", args=["acme"]),
    ):
        assert client.get(url).status_code == 403, url


def test_a_password_only_session_gets_nothing_from_the_admin(staff_organizer, roles):
    client = password_only_client(staff_organizer)
    totp = Authenticator.objects.get(user=staff_organizer, type=Authenticator.Type.TOTP)
    pages = [
        "/operator/",
        "/operator/organizing/user/",
        f"/operator/organizing/user/{roles.member.pk}/change/",
        f"/operator/organizing/user/{roles.member.pk}/password/",
        "/operator/mfa/authenticator/",
        f"/operator/mfa/authenticator/{totp.pk}/delete/",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"].startswith(reverse("admin:login")), page
        assert roles.member.email.encode() not in response.content
    # Its login page sends the operator to confirm the second factor, and
    # never shows a password form.
    response = client.get(reverse("admin:login") + "?next=/operator/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa_reauthenticate"))
    # Writes through the admin do nothing.
    client.post(
        f"/operator/organizing/user/{roles.member.pk}/password/",
        {"password1": "a new password 123", "password2": "a new password 123"},
    )
    client.post(f"/operator/mfa/authenticator/{totp.pk}/delete/", {"post": "yes"})
    assert Authenticator.objects.filter(pk=totp.pk).exists()
    roles.member.refresh_from_db()
    assert not roles.member.check_password("a new password 123")


def test_a_half_finished_login_is_not_a_session(staff_organizer):
    """Password right, second factor never typed: allauth keeps a record of
    the password step in the session, which must count for nothing."""
    client = Client()
    response = client.post(
        reverse("account_login"), {"login": staff_organizer.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("organizing:manage", args=["acme"])).status_code == 302
    assert client.get("/operator/organizing/user/").status_code == 302


def test_both_factors_through_allauth_open_the_admin_and_the_campaign(staff_organizer):
    client = Client()
    client.post(reverse("account_login"), {"login": staff_organizer.email, "password": PASSWORD})
    response = client.post(
        reverse("mfa_authenticate"), {"code": totp_current_code(TEST_TOTP_SECRET)}
    )
    assert response.status_code == 302
    assert client.get(reverse("organizing:manage", args=["acme"])).status_code == 200
    assert client.get("/operator/").status_code == 200
    assert client.get("/operator/organizing/user/").status_code == 200
    # Already signed in with both: the admin's login page just goes on.
    response = client.get(reverse("admin:login") + "?next=/operator/organizing/")
    assert response["Location"] == "/operator/organizing/"


def test_the_admin_login_does_not_redirect_elsewhere(staff_organizer):
    client = Client()
    login_with_mfa(client, staff_organizer)
    response = client.get(reverse("admin:login") + "?next=https://evil.example/")
    assert response["Location"] == reverse("admin:index")


def test_operators_without_a_second_factor_are_sent_to_set_one_up(db):
    operator = User.objects.create_user(email="op@personal.test", password=PASSWORD)
    operator.is_staff = True
    operator.save()
    client = password_only_client(operator)
    assert client.get("/operator/").status_code == 302
    response = client.get(reverse("admin:login"))
    assert response["Location"] == reverse("mfa_index")


def test_removing_the_factor_the_session_used_ends_its_powers(roles, client_for):
    client = client_for(roles.organizer)
    url = reverse("organizing:manage", args=["acme"])
    assert client.get(url).status_code == 200
    Authenticator.objects.filter(user=roles.organizer, type=Authenticator.Type.TOTP).delete()
    # Recovery codes remain, so the account still "has MFA"; the session's
    # proof is gone with the authenticator it used.
    response = client.get(url)
    assert response.status_code == 403


# --- websockets ------------------------------------------------------------------------------


def organizers_channel(roles):
    return channel_services.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers",
        allowed_roles=[Role.ORGANIZER],
    )


def ws_run(scenario):
    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_password_only_socket_is_refused(roles):
    channel = channel_services.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers",
        allowed_roles=["organizer"],
    )

    async def scenario():
        comm = WebsocketCommunicator(ROUTER, f"/ws/channels/{channel.pk}/")
        comm.scope["user"] = roles.organizer
        # The session of Django's admin login: a password, no second factor.
        comm.scope["session"] = {
            "account_authentication_methods": [{"method": "password", "at": 0}]
        }
        connected, _ = await comm.connect()
        assert connected
        error = await comm.receive_json_from(timeout=3)
        assert error["code"] == "forbidden" and "two-factor" in error["message"]
        assert await closed_with(comm) == CLOSE_FORBIDDEN

    ws_run(scenario)


@pytest.mark.django_db(transaction=True)
def test_an_open_socket_loses_organizer_access_when_the_factor_is_removed(roles):
    """Deactivating TOTP through allauth closes the organizer's open socket,
    which could otherwise keep sending and reading history."""
    channel = channel_services.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers",
        allowed_roles=["organizer"],
    )
    browser = Client()
    login_with_mfa(browser, roles.organizer)
    # allauth asks for the factor once more before removing it.
    browser.post(reverse("mfa_reauthenticate"), {"code": totp_current_code(TEST_TOTP_SECRET)})

    async def scenario():
        comm, _ = await connect(roles.organizer, channel.pk)
        await comm.send_json_to({"type": "history", "ref": "h"})
        assert (await comm.receive_json_from(timeout=3))["type"] == "history"
        response = await database_sync_to_async(browser.post)(reverse("mfa_deactivate_totp"))
        assert response.status_code == 302
        assert not await database_sync_to_async(
            Authenticator.objects.filter(user=roles.organizer).exists
        )()
        frame = await comm.receive_json_from(timeout=3)
        assert frame["code"] == "forbidden" and "second factor" in frame["message"]
        assert await closed_with(comm) == CLOSE_FORBIDDEN

    ws_run(scenario)


@pytest.mark.django_db(transaction=True)
def test_every_frame_rechecks_the_factor(roles):
    """Even if the removal's announcement were lost (the channel layer drops
    messages), the next send or history frame is refused."""
    channel = channel_services.channel_create(
        actor=roles.organizer,
        campaign=roles.campaign,
        name="organizers",
        allowed_roles=["organizer"],
    )

    async def scenario():
        for frame in ({"type": "send", "epoch": 1, **fake_ciphertext()}, {"type": "history"}):
            await database_sync_to_async(totp_enable)(roles.organizer, TEST_TOTP_SECRET)
            comm, _ = await connect(roles.organizer, channel.pk)
            # Deleted behind the signal's back.
            await database_sync_to_async(
                lambda: Authenticator.objects.filter(user=roles.organizer).delete()
            )()
            await comm.send_json_to({**frame, "ref": "x"})
            # (Presence frames of the previous socket may come first.)
            error = await receive_type(comm, "error")
            assert error["code"] == "forbidden", frame
            assert await closed_with(comm) == CLOSE_FORBIDDEN
        assert not await database_sync_to_async(
            Message.objects.filter(channel_id=channel.pk).exists
        )()

    ws_run(scenario)
