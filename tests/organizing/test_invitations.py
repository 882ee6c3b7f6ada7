"""Invitation links: single-use, limited-use, expiry, revocation, roles, and
concurrent acceptance that cannot exceed the allowed number of uses."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from organizing import services
from organizing.models import AuditEntry, Invitation, Membership, Role
from organizing.services import InvitationUnusable, hash_token, invitation_accept
from tests.support.users import make_user


def invite(roles, **kwargs):
    return services.invitation_create(actor=roles.organizer, campaign=roles.campaign, **kwargs)


def test_single_use_invitation_admits_one_person(roles):
    created = invite(roles)
    first, second = make_user(), make_user()
    membership = invitation_accept(user=first, token=created.token, display_name="Rosa")
    assert (membership.campaign, membership.role, membership.display_name) == (
        roles.campaign,
        Role.MEMBER,
        "Rosa",
    )
    with pytest.raises(InvitationUnusable):
        invitation_accept(user=second, token=created.token)
    assert not Membership.objects.filter(user=second).exists()
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 1
    assert created.invitation.status == "used up"


def test_limited_use_invitation_admits_exactly_max_uses(roles):
    created = invite(roles, max_uses=3)
    people = [make_user() for _ in range(4)]
    for person in people[:3]:
        invitation_accept(user=person, token=created.token)
    with pytest.raises(InvitationUnusable):
        invitation_accept(user=people[3], token=created.token)
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 3
    assert Membership.objects.filter(user__in=people).count() == 3


def test_accepting_twice_does_not_use_up_the_link(roles):
    created = invite(roles, max_uses=2)
    person = make_user()
    first = invitation_accept(user=person, token=created.token)
    again = invitation_accept(user=person, token=created.token)
    assert first.pk == again.pk
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 1


def test_existing_member_keeps_their_role(roles):
    created = invite(roles, role=Role.ORGANIZER)
    membership = invitation_accept(user=roles.member, token=created.token)
    assert membership.role == Role.MEMBER
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 0


def test_expired_invitation_is_refused(roles):
    created = invite(roles, valid_for=timedelta(minutes=5))
    Invitation.objects.filter(pk=created.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvitationUnusable, match="expired"):
        invitation_accept(user=make_user(), token=created.token)


def test_revoked_invitation_is_refused_and_revocation_is_audited(roles):
    created = invite(roles, max_uses=5)
    services.invitation_revoke(actor=roles.organizer, invitation=created.invitation)
    services.invitation_revoke(actor=roles.organizer, invitation=created.invitation)  # no-op
    assert AuditEntry.objects.filter(action="invitation.revoke").count() == 1
    with pytest.raises(InvitationUnusable):
        invitation_accept(user=make_user(), token=created.token)
    assert created.invitation.status == "revoked"


@pytest.mark.parametrize("token", ["", "nope", "x" * 101])
def test_unknown_tokens_are_refused(roles, token):
    with pytest.raises(InvitationUnusable):
        invitation_accept(user=make_user(), token=token)


def test_only_a_hash_of_the_token_is_stored(roles):
    created = invite(roles)
    row = Invitation.objects.filter(pk=created.invitation.pk).values().get()
    assert row["token_hash"] == hash_token(created.token)
    assert created.token not in str(row)
    assert len(created.token) >= 32


@pytest.mark.parametrize("role", [Role.DELEGATE, Role.ORGANIZER])
def test_privileged_invitation_joins_in_that_role_and_is_audited(roles, role):
    created = invite(roles, role=role)
    person = make_user()
    membership = invitation_accept(user=person, token=created.token)
    assert membership.role == role
    entry = AuditEntry.objects.get(action="membership.join")
    assert entry.actor == person and entry.summary == role


@pytest.mark.parametrize(
    "kwargs",
    [
        {"role": "king"},
        {"max_uses": 0},
        {"max_uses": 10001},
        {"valid_for": timedelta(minutes=1)},
        {"valid_for": timedelta(days=91)},
    ],
)
def test_invitation_create_validates(roles, kwargs):
    with pytest.raises(ValidationError):
        invite(roles, **kwargs)
    assert not Invitation.objects.exists()


def test_invitation_create_is_audited_without_the_token(roles):
    created = invite(roles, max_uses=4, label="night shift")
    entry = AuditEntry.objects.get(action="invitation.create")
    assert entry.actor == roles.organizer
    assert entry.object_id == str(created.invitation.pk)
    assert "4 use(s)" in entry.summary
    assert created.token not in entry.summary


# --- through the pages -------------------------------------------------------------


def test_organizer_creates_a_link_and_a_person_joins_with_it(roles, client_for):
    response = client_for(roles.organizer).post(
        reverse("organizing:invitation_create", args=["acme"]),
        {"role": "member", "max_uses": 2, "valid_days": 3, "label": "canteen"},
    )
    assert response.status_code == 200
    link = response.context["link"]
    assert link.startswith("http://testserver/join/")
    path = link.removeprefix("http://testserver")
    assert path.encode() in response.content  # shown once, to be copied

    person = make_user()
    client = client_for(person)
    page = client.get(path)
    assert page.status_code == 200
    assert b"Protect yourself" in page.content  # the personal-device notice
    joined = client.post(path, {"display_name": "Night owl"})
    assert joined.status_code == 302
    assert joined["Location"] == reverse("organizing:campaign", args=["acme"])
    membership = Membership.objects.get(user=person)
    assert (membership.role, membership.display_name) == (Role.MEMBER, "Night owl")
    # Visiting again says so instead of joining twice.
    assert b"already part of this campaign" in client.get(path).content


def test_anonymous_visitor_is_sent_to_sign_up_or_log_in(roles, client):
    created = invite(roles)
    path = reverse("organizing:join", args=[created.token])
    page = client.get(path)
    assert page.status_code == 200
    assert reverse("account_signup").encode() + b"?next=" in page.content
    response = client.post(path, {"display_name": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 0


def test_used_up_link_answers_410_with_a_message(roles, client_for):
    created = invite(roles)
    invitation_accept(user=make_user(), token=created.token)
    path = reverse("organizing:join", args=[created.token])
    client = client_for(make_user())
    assert client.get(path).status_code == 410
    response = client.post(path, {"display_name": ""})
    assert response.status_code == 410
    assert b"expired, been revoked or used up" in response.content


def test_join_rejects_a_too_long_display_name(roles, client_for):
    created = invite(roles)
    path = reverse("organizing:join", args=[created.token])
    response = client_for(make_user()).post(path, {"display_name": "x" * 61})
    assert response.status_code == 400  # the form again, with the error
    assert b'role="alert"' in response.content
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 0


def test_joining_asks_for_a_display_name_instead_of_a_random_one(roles, client_for):
    created = invite(roles)
    path = reverse("organizing:join", args=[created.token])
    client = client_for(make_user())
    page = client.get(path).content.decode()
    assert "Your display name in this campaign" in page
    assert "A pseudonym is fine" in page
    assert "random name" not in page
    response = client.post(path, {"display_name": "  "})
    assert response.status_code == 400
    assert b'role="alert"' in response.content
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 0
    assert client.post(path, {"display_name": "Quiet fox"}).status_code == 302
    assert Membership.objects.get(user__memberships__display_name="Quiet fox").role == Role.MEMBER


def test_join_refuses_other_methods(roles, client_for):
    created = invite(roles)
    path = reverse("organizing:join", args=[created.token])
    assert client_for(roles.member).put(path).status_code == 405
    assert client_for(roles.member).delete(path).status_code == 405


def test_revoke_through_the_page(roles, client_for):
    created = invite(roles)
    response = client_for(roles.organizer).post(
        reverse("organizing:invitation_revoke", args=["acme", created.invitation.pk])
    )
    assert response.status_code == 302
    created.invitation.refresh_from_db()
    assert created.invitation.revoked_at is not None
    page = client_for(make_user()).get(reverse("organizing:join", args=[created.token]))
    assert page.status_code == 410


# --- concurrency (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_acceptance_cannot_exceed_max_uses(roles):
    created = invite(roles, max_uses=3)
    people = [make_user() for _ in range(12)]
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept(person):
        try:
            barrier.wait(timeout=30)
            invitation_accept(user=person, token=created.token)
            result = "joined"
        except InvitationUnusable:
            result = "refused"
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=accept, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["joined"] * 3 + ["refused"] * 9
    created.invitation.refresh_from_db()
    assert created.invitation.uses == 3
    assert Membership.objects.filter(user__in=people).count() == 3
