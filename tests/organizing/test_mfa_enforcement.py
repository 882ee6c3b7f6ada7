"""Organizers and delegates cannot act until they have a second factor: the
views answer with the mfa_required 403 page and the services raise
MFARequired."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from organizing import services
from organizing.decorators import staff_of_campaign_required
from organizing.mfa import totp_current_code, totp_enable
from organizing.models import AuditEntry, Invitation, Membership, Role
from organizing.services import MFARequired
from tests.support.factories import MembershipFactory
from tests.support.users import TEST_TOTP_SECRET, make_user


def without_mfa(user):
    Authenticator.objects.filter(user=user).delete()
    assert not services.account_has_mfa(user)
    return user


@pytest.fixture
def bare_organizer(roles):
    return without_mfa(roles.organizer)


@pytest.fixture
def objects(roles):
    invitation = services.invitation_create(actor=roles.organizer, campaign=roles.campaign)
    extra = MembershipFactory(campaign=roles.campaign, role=Role.MEMBER)
    return invitation.invitation, extra


def organizer_requests(invitation, extra):
    return [
        ("get", reverse("organizing:manage", args=["acme"]), {}),
        ("get", reverse("organizing:settings", args=["acme"]), {}),
        (
            "post",
            reverse("organizing:settings", args=["acme"]),
            {"name": "X", "employer_name": "Y", "k_threshold": 5, "approval_quorum": 1},
        ),
        ("get", reverse("organizing:audit", args=["acme"]), {}),
        (
            "post",
            reverse("organizing:invitation_create", args=["acme"]),
            {"role": "member", "max_uses": 1, "valid_days": 1},
        ),
        ("post", reverse("organizing:invitation_revoke", args=["acme", invitation.pk]), {}),
        ("post", reverse("organizing:member_role", args=["acme", extra.pk]), {"role": "delegate"}),
        ("post", reverse("organizing:member_remove", args=["acme", extra.pk]), {}),
        ("get", reverse("organizing:campaign_create"), {}),
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


def test_every_organizer_action_needs_mfa(roles, objects, bare_organizer, client_for):
    invitation, extra = objects
    client = client_for(bare_organizer)
    audit_count = AuditEntry.objects.count()
    for method, url, data in organizer_requests(invitation, extra):
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
        assert "organizing/mfa_required.html" in [t.name for t in response.templates], url
        assert reverse("mfa_index").encode() in response.content
    # Nothing happened.
    assert AuditEntry.objects.count() == audit_count
    assert Invitation.objects.count() == 1
    invitation.refresh_from_db()
    extra.refresh_from_db()
    assert invitation.revoked_at is None and extra.role == Role.MEMBER


def test_the_same_organizer_with_mfa_may_act(roles, objects, client_for):
    invitation, extra = objects
    client = client_for(roles.organizer)
    for method, url, data in organizer_requests(invitation, extra):
        response = getattr(client, method)(url, data)
        assert response.status_code in (200, 302), (method, url, response.status_code)


def test_every_organizer_service_raises_mfa_required(roles, objects, bare_organizer):
    invitation, extra = objects
    calls = [
        lambda: services.campaign_create(
            creator=bare_organizer, name="N", slug="n", employer_name="E"
        ),
        lambda: services.campaign_update(actor=bare_organizer, campaign=roles.campaign, name="X"),
        lambda: services.invitation_create(actor=bare_organizer, campaign=roles.campaign),
        lambda: services.invitation_revoke(actor=bare_organizer, invitation=invitation),
        lambda: services.membership_remove(actor=bare_organizer, membership=extra),
        lambda: services.membership_change_role(
            actor=bare_organizer, membership=extra, role=Role.DELEGATE
        ),
        lambda: services.require_organizer(user=bare_organizer, campaign=roles.campaign),
    ]
    for call in calls:
        with pytest.raises(MFARequired):
            call()
    assert Membership.objects.filter(pk=extra.pk, role=Role.MEMBER).exists()


def test_delegates_need_mfa_too(roles):
    staff_roles = {Role.ORGANIZER, Role.DELEGATE}
    assert services.require_role(user=roles.delegate, campaign=roles.campaign, roles=staff_roles)
    without_mfa(roles.delegate)
    with pytest.raises(MFARequired):
        services.require_role(user=roles.delegate, campaign=roles.campaign, roles=staff_roles)


def test_members_act_without_mfa(roles):
    membership = services.require_role(
        user=roles.member, campaign=roles.campaign, roles={Role.MEMBER}
    )
    assert membership.user == roles.member


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("anonymous", 302),
        ("member", 403),
        ("delegate", 200),
        ("organizer", 200),
        ("other_organizer", 403),
        ("delegate_without_mfa", 403),
        ("organizer_without_mfa", 403),
    ],
)
def test_staff_decorator(roles, role, expected):
    """staff_of_campaign_required (used by delegate pages of other areas)."""
    from django.contrib.auth.models import AnonymousUser

    @staff_of_campaign_required
    def view(request, *, campaign, membership):
        return HttpResponse(membership.role)

    users = roles.users()
    if role.endswith("_without_mfa"):
        user = without_mfa(users[role.removesuffix("_without_mfa")])
    else:
        user = users[role]
    request = RequestFactory().get("/c/acme/x/")
    request.user = user or AnonymousUser()
    response = view(request, "acme")
    assert response.status_code == expected
    if role.endswith("_without_mfa"):
        assert b"Two-factor authentication required" in response.content
    elif expected == 403:
        assert b"Not allowed" in response.content


def test_enabling_mfa_elsewhere_does_not_unlock_this_session(roles, bare_organizer, client_for):
    """A second factor added to the account (say, from another session) does
    not make a password-only session an organizer's: it must confirm it."""
    client = client_for(bare_organizer)
    url = reverse("organizing:manage", args=["acme"])
    assert client.get(url).status_code == 403
    totp_enable(bare_organizer, TEST_TOTP_SECRET)
    response = client.get(url)
    assert response.status_code == 403
    assert b"Confirm with your second factor" in response.content
    assert reverse("mfa_reauthenticate").encode() in response.content
    response = client.post(
        reverse("mfa_reauthenticate") + f"?next={url}",
        {"code": totp_current_code(TEST_TOTP_SECRET)},
    )
    assert response.status_code == 302 and response["Location"] == url
    assert client.get(url).status_code == 200


def test_dashboard_tells_people_without_mfa(db, client_for):
    content = client_for(make_user()).get(reverse("organizing:dashboard")).content
    assert b"must use two-factor authentication" in content
    content = client_for(make_user(mfa=True)).get(reverse("organizing:dashboard")).content
    assert b"must use two-factor authentication" not in content
