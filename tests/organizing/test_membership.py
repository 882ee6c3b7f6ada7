"""Memberships: removal, role changes (the last organizer is protected),
display names, and the removal signal other areas rely on."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from organizing import services, signals
from organizing.models import AuditEntry, Membership, Role
from tests.support.factories import MembershipFactory
from tests.support.users import make_user


def membership(roles, user):
    return Membership.objects.get(campaign=roles.campaign, user=user)


def test_organizer_removes_a_member(roles):
    target = membership(roles, roles.member)
    services.membership_remove(actor=roles.organizer, membership=target)
    assert not Membership.objects.filter(pk=target.pk).exists()
    entry = AuditEntry.objects.get(action="membership.remove")
    assert entry.actor == roles.organizer
    assert "Mem (member)" in entry.summary
    # The audit entry names the display name, never the member's email.
    assert roles.member.email not in entry.summary


@contextmanager
def receiving(signal, receiver):
    signal.connect(receiver, weak=False, dispatch_uid="tests.membership")
    try:
        yield
    finally:
        signal.disconnect(dispatch_uid="tests.membership")


def test_removal_sends_the_signal_before_the_row_goes(roles):
    seen = []

    def receiver(sender, *, membership, actor, **kwargs):
        seen.append((membership.pk, actor, Membership.objects.filter(pk=membership.pk).exists()))

    target = membership(roles, roles.member)
    target_pk = target.pk
    with receiving(signals.membership_removed, receiver):
        services.membership_remove(actor=roles.organizer, membership=target)
    assert seen == [(target_pk, roles.organizer, True)]


def test_a_failing_receiver_keeps_the_member(roles):
    def receiver(**kwargs):
        raise RuntimeError("key rotation failed")

    target = membership(roles, roles.member)
    with receiving(signals.membership_removed, receiver), pytest.raises(RuntimeError):
        services.membership_remove(actor=roles.organizer, membership=target)
    assert Membership.objects.filter(pk=target.pk).exists()
    assert not AuditEntry.objects.filter(action="membership.remove").exists()


def test_the_last_organizer_cannot_be_removed_or_demoted(roles):
    own = membership(roles, roles.organizer)
    with pytest.raises(ValidationError, match="at least one organizer"):
        services.membership_remove(actor=roles.organizer, membership=own)
    for role in (Role.DELEGATE, Role.MEMBER):
        with pytest.raises(ValidationError, match="at least one organizer"):
            services.membership_change_role(actor=roles.organizer, membership=own, role=role)
    own.refresh_from_db()
    assert own.role == Role.ORGANIZER


def test_an_organizer_can_step_down_when_another_remains(roles):
    services.membership_change_role(
        actor=roles.organizer, membership=membership(roles, roles.delegate), role=Role.ORGANIZER
    )
    own = membership(roles, roles.organizer)
    services.membership_change_role(actor=roles.organizer, membership=own, role=Role.MEMBER)
    own.refresh_from_db()
    assert own.role == Role.MEMBER
    # ...and is no longer allowed to act as one.
    with pytest.raises(PermissionDenied):
        services.membership_remove(
            actor=roles.organizer, membership=membership(roles, roles.member)
        )


def test_an_organizer_can_be_removed_when_another_remains(roles):
    second = make_user(mfa=True)
    MembershipFactory(campaign=roles.campaign, user=second, role=Role.ORGANIZER)
    services.membership_remove(actor=second, membership=membership(roles, roles.organizer))
    assert list(
        Membership.objects.filter(campaign=roles.campaign, role=Role.ORGANIZER).values_list(
            "user", flat=True
        )
    ) == [second.pk]


def test_role_change_is_audited(roles):
    target = membership(roles, roles.member)
    services.membership_change_role(actor=roles.organizer, membership=target, role=Role.DELEGATE)
    target.refresh_from_db()
    assert target.role == Role.DELEGATE
    entry = AuditEntry.objects.get(action="membership.role")
    assert entry.summary == "Mem: member → delegate"
    assert entry.object_id == str(target.pk)


def test_unknown_role_is_refused(roles):
    with pytest.raises(ValidationError):
        services.membership_change_role(
            actor=roles.organizer, membership=membership(roles, roles.member), role="owner"
        )


@pytest.mark.parametrize("actor", ["member", "delegate", "other_organizer"])
def test_only_organizers_of_the_campaign_change_memberships(roles, actor):
    user = roles.users()[actor]
    target = membership(roles, roles.member)
    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=user, membership=target)
    with pytest.raises(PermissionDenied):
        services.membership_change_role(actor=user, membership=target, role=Role.ORGANIZER)
    target.refresh_from_db()
    assert target.role == Role.MEMBER


def test_last_organizer_through_the_pages_is_409_with_a_message(roles, client_for):
    own = membership(roles, roles.organizer)
    client = client_for(roles.organizer)
    response = client.post(reverse("organizing:member_remove", args=["acme", own.pk]))
    assert response.status_code == 409
    assert b"at least one organizer" in response.content
    response = client.post(
        reverse("organizing:member_role", args=["acme", own.pk]), {"role": "member"}
    )
    assert response.status_code == 409
    own.refresh_from_db()
    assert own.role == Role.ORGANIZER


def test_removed_member_loses_access(roles, client_for):
    client = client_for(roles.delegate)
    services.membership_remove(actor=roles.organizer, membership=membership(roles, roles.delegate))
    response = client.post(
        reverse("organizing:member_rename", args=["acme"]), {"display_name": "back"}
    )
    assert response.status_code == 403


def test_member_renames_themselves(roles, client_for):
    response = client_for(roles.member).post(
        reverse("organizing:member_rename", args=["acme"]), {"display_name": "  Quiet fox  "}
    )
    assert response.status_code == 302
    assert membership(roles, roles.member).display_name == "Quiet fox"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_organizers_demoting_each_other_leave_one(roles):
    second = make_user(mfa=True)
    MembershipFactory(campaign=roles.campaign, user=second, role=Role.ORGANIZER)
    first_membership = membership(roles, roles.organizer)
    second_membership = membership(roles, second)
    barrier = threading.Barrier(2)
    outcomes = []

    def demote(actor, target):
        try:
            barrier.wait(timeout=30)
            services.membership_change_role(actor=actor, membership=target, role=Role.MEMBER)
            outcomes.append("demoted")
        except (ValidationError, PermissionDenied):
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(roles.organizer, second_membership)),
        threading.Thread(target=demote, args=(second, first_membership)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Membership.objects.filter(campaign=roles.campaign, role=Role.ORGANIZER).count() == 1
