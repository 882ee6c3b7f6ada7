"""Campaign pages: an authorization test for every organizing view and every
role, campaign creation and settings, and bad input answered with a 4xx."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.urls import reverse

from organizing import services
from organizing.models import AuditEntry, Campaign, Invitation, Membership, Role
from tests.support.factories import MembershipFactory
from tests.support.users import make_user

ROLES = ["anonymous", "member", "delegate", "organizer", "other_organizer"]


@dataclass
class Targets:
    """Objects an organizer action can act on, made fresh for each test."""

    extra: Membership  # a member of `acme` that organizers may change or remove
    invitation: Invitation
    token: str


@pytest.fixture
def targets(roles) -> Targets:
    extra = MembershipFactory(campaign=roles.campaign, role=Role.MEMBER, display_name="Extra")
    created = services.invitation_create(
        actor=roles.organizer, campaign=roles.campaign, max_uses=10
    )
    return Targets(extra=extra, invitation=created.invitation, token=created.token)


@dataclass
class Case:
    name: str
    method: str
    url: Callable
    allowed: set[str]  # roles that may use it; everyone else gets a 403
    ok_status: int = 200
    data: Callable = field(default=lambda roles, t: {})
    anonymous_allowed: bool = False  # otherwise: redirect to the login page
    effect: Callable | None = None  # checked after an allowed request


def _removed(roles, t):
    assert not Membership.objects.filter(pk=t.extra.pk).exists()


def _not_removed(roles, t):
    assert Membership.objects.filter(pk=t.extra.pk).exists()


def _promoted(roles, t):
    t.extra.refresh_from_db()
    assert t.extra.role == Role.DELEGATE


def _revoked(roles, t):
    t.invitation.refresh_from_db()
    assert t.invitation.revoked_at is not None


def _renamed(roles, t):
    assert Membership.objects.filter(campaign=roles.campaign, display_name="New name").count() == 1


EVERYONE = {"member", "delegate", "organizer", "other_organizer"}
ORGANIZER = {"organizer"}
STAFF = {"organizer", "delegate"}
ACME_MEMBERS = {"member", "delegate", "organizer"}
WITH_MFA = {"delegate", "organizer", "other_organizer"}

CASES = [
    Case("home", "get", lambda r, t: reverse("organizing:home"), EVERYONE, anonymous_allowed=True),
    Case(
        "healthz",
        "get",
        lambda r, t: reverse("organizing:healthz"),
        EVERYONE,
        anonymous_allowed=True,
    ),
    Case("dashboard", "get", lambda r, t: reverse("organizing:dashboard"), EVERYONE),
    Case(
        "campaign_create_form", "get", lambda r, t: reverse("organizing:campaign_create"), WITH_MFA
    ),
    Case(
        "campaign_create",
        "post",
        lambda r, t: reverse("organizing:campaign_create"),
        WITH_MFA,
        ok_status=302,
        data=lambda r, t: {
            "name": "New",
            "slug": "new",
            "employer_name": "E",
            "allowed_domains": "e.example",
            "k_threshold": 5,
            "approval_quorum": 1,
            "display_name": "Founder",
        },
    ),
    Case(
        "campaign_public",
        "get",
        lambda r, t: reverse("organizing:campaign", args=["acme"]),
        EVERYONE,
        anonymous_allowed=True,
    ),
    # The overview: organizers and delegates (issue 17; a delegate sees their part).
    Case("manage", "get", lambda r, t: reverse("organizing:manage", args=["acme"]), STAFF),
    Case(
        "settings_form",
        "get",
        lambda r, t: reverse("organizing:settings", args=["acme"]),
        ORGANIZER,
    ),
    Case(
        "settings",
        "post",
        lambda r, t: reverse("organizing:settings", args=["acme"]),
        ORGANIZER,
        ok_status=302,
        data=lambda r, t: {
            "name": "Renamed",
            "employer_name": "Acme",
            "allowed_domains": "",
            "k_threshold": 7,
            "approval_quorum": 2,
        },
    ),
    Case("audit", "get", lambda r, t: reverse("organizing:audit", args=["acme"]), ORGANIZER),
    Case(
        "invitation_create",
        "post",
        lambda r, t: reverse("organizing:invitation_create", args=["acme"]),
        ORGANIZER,
        data=lambda r, t: {"role": "member", "max_uses": 3, "valid_days": 7, "label": "x"},
    ),
    Case(
        "invitation_revoke",
        "post",
        lambda r, t: reverse("organizing:invitation_revoke", args=["acme", t.invitation.pk]),
        ORGANIZER,
        ok_status=302,
        effect=_revoked,
    ),
    Case(
        "member_remove",
        "post",
        lambda r, t: reverse("organizing:member_remove", args=["acme", t.extra.pk]),
        ORGANIZER,
        ok_status=302,
        effect=_removed,
    ),
    Case(
        "member_role",
        "post",
        lambda r, t: reverse("organizing:member_role", args=["acme", t.extra.pk]),
        ORGANIZER,
        ok_status=302,
        data=lambda r, t: {"role": "delegate"},
        effect=_promoted,
    ),
    Case(
        "member_rename",
        "post",
        lambda r, t: reverse("organizing:member_rename", args=["acme"]),
        ACME_MEMBERS,
        ok_status=302,
        data=lambda r, t: {"display_name": "New name"},
        effect=_renamed,
    ),
    Case(
        "join_page",
        "get",
        lambda r, t: reverse("organizing:join", args=[t.token]),
        EVERYONE,
        anonymous_allowed=True,
    ),
    Case(
        "join",
        "post",
        lambda r, t: reverse("organizing:join", args=[t.token]),
        EVERYONE,
        ok_status=302,
        data=lambda r, t: {"display_name": "Newcomer"},
    ),
]


def _login_redirect(response, url):
    from urllib.parse import quote

    assert response.status_code == 302, response.status_code
    assert response["Location"] == reverse("account_login") + "?next=" + quote(url, safe="/")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_authorization(case, role, roles, targets, client_for):
    user = roles.users()[role]
    client = client_for(user)
    url = case.url(roles, targets)
    audit_before = AuditEntry.objects.count()
    response = getattr(client, case.method)(url, case.data(roles, targets))

    if role == "anonymous" and not case.anonymous_allowed:
        _login_redirect(response, url)
        allowed = False
    elif role in case.allowed or (role == "anonymous" and case.anonymous_allowed):
        assert response.status_code == case.ok_status, (case.name, role, response.status_code)
        allowed = True
    else:
        assert response.status_code == 403, (case.name, role, response.status_code)
        allowed = False

    if case.effect is not None:
        if allowed:
            case.effect(roles, targets)
        else:
            # A refused request changes nothing.
            _not_removed(roles, targets)
            targets.extra.refresh_from_db()
            targets.invitation.refresh_from_db()
            assert targets.extra.role == Role.MEMBER
            assert targets.invitation.revoked_at is None
    if not allowed:
        assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize(
    "name",
    ["invitation_create", "invitation_revoke", "member_remove", "member_role", "member_rename"],
)
@pytest.mark.parametrize("role", ROLES)
def test_post_only_endpoints_refuse_get(name, role, roles, targets, client_for):
    case = next(c for c in CASES if c.name == name)
    response = client_for(roles.users()[role]).get(case.url(roles, targets))
    assert response.status_code == 405


# --- creating a campaign --------------------------------------------------------


def test_create_campaign_makes_the_creator_its_organizer(roles, client_for):
    client = client_for(roles.organizer)
    response = client.post(
        reverse("organizing:campaign_create"),
        {
            "name": "Fair pay",
            "slug": "fair-pay",
            "employer_name": "Initech",
            "description": "We ask for fair pay.",
            "allowed_domains": "Initech.example\n@initech-labs.example\ninitech.example",
            "k_threshold": 8,
            "approval_quorum": 3,
            "display_name": "Night owl",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("organizing:manage", args=["fair-pay"])
    campaign = Campaign.objects.get(slug="fair-pay")
    assert campaign.allowed_domains == ["initech.example", "initech-labs.example"]
    assert (campaign.k_threshold, campaign.approval_quorum) == (8, 3)
    membership = Membership.objects.get(campaign=campaign, user=roles.organizer)
    assert membership.role == Role.ORGANIZER
    # The name the creator chose, not a random "member-a79e73".
    assert membership.display_name == "Night owl"
    assert AuditEntry.objects.filter(campaign=campaign, action="campaign.create").count() == 1
    assert client.get(reverse("organizing:manage", args=["fair-pay"])).status_code == 200


def test_new_campaign_uses_the_default_k(roles, client_for, settings):
    settings.ORGANIZING = {**settings.ORGANIZING, "DEFAULT_K": 9}
    campaign = services.campaign_create(
        creator=roles.organizer, name="K", slug="k-default", employer_name="E"
    )
    assert campaign.k_threshold == 9


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"slug": "acme"}, "slug"),  # taken
        ({"slug": "not a slug!"}, "slug"),
        ({"name": ""}, "name"),
        ({"employer_name": ""}, "employer_name"),
        ({"allowed_domains": "not-a-domain"}, "allowed_domains"),
        ({"allowed_domains": "exa mple.com"}, "allowed_domains"),
        ({"k_threshold": 1}, "k_threshold"),
        ({"k_threshold": "five"}, "k_threshold"),
        ({"k_threshold": 100000}, "k_threshold"),
        ({"approval_quorum": 0}, "approval_quorum"),
        ({"name": "x" * 500}, "name"),
        # The creator is asked for the name other members see.
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": "Eve\u202e"}, "display_name"),
        # A public mail provider lets anyone sign: refused unless confirmed.
        ({"allowed_domains": "gmail.com"}, "allowed_domains"),
        ({"allowed_domains": "acme.example\nOutlook.com"}, "allowed_domains"),
    ],
)
def test_create_campaign_rejects_bad_values_with_400(roles, client_for, data, field):
    valid = {
        "name": "Valid",
        "slug": "valid",
        "employer_name": "E",
        "allowed_domains": "",
        "k_threshold": 5,
        "approval_quorum": 2,
        "display_name": "Founder",
    }
    count = Campaign.objects.count()
    response = client_for(roles.organizer).post(
        reverse("organizing:campaign_create"), {**valid, **data}
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert b'role="alert"' in response.content  # the error is shown next to the field
    assert Campaign.objects.count() == count


def test_settings_change_is_saved_and_audited(roles, client_for):
    response = client_for(roles.organizer).post(
        reverse("organizing:settings", args=["acme"]),
        {
            "name": "Acme workers united",
            "slug": "ignored",
            "employer_name": "Acme",
            "allowed_domains": "acme.example",
            "k_threshold": 6,
            "approval_quorum": 2,
        },
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(pk=roles.campaign.pk)
    assert campaign.slug == "acme"  # the slug cannot change: links stay valid
    assert campaign.name == "Acme workers united"
    assert campaign.allowed_domains == ["acme.example"]
    entry = AuditEntry.objects.get(campaign=campaign, action="campaign.update")
    assert entry.actor == roles.organizer
    assert "k_threshold" in entry.summary and "name" in entry.summary


NEW_CAMPAIGN = {
    "name": "Fair pay",
    "slug": "fair-pay",
    "employer_name": "Initech",
    "allowed_domains": "initech.example\ngmail.com",
    "k_threshold": 5,
    "approval_quorum": 2,
    "display_name": "Founder",
}
CONFIRM = 'name="confirm_public_domains"'


def test_a_public_mail_provider_needs_an_explicit_confirmation(roles, client_for):
    client = client_for(roles.organizer)
    url = reverse("organizing:campaign_create")
    assert CONFIRM not in client.get(url).content.decode()
    response = client.post(url, NEW_CAMPAIGN)
    assert response.status_code == 400
    text = response.content.decode()
    assert "gmail.com is a public mail provider: anyone can get an address there" in text
    assert CONFIRM in text  # the checkbox appears once it is needed
    assert not Campaign.objects.filter(slug="fair-pay").exists()

    response = client.post(url, {**NEW_CAMPAIGN, "confirm_public_domains": "on"})
    assert response.status_code == 302
    campaign = Campaign.objects.get(slug="fair-pay")
    assert campaign.allowed_domains == ["initech.example", "gmail.com"]
    entry = AuditEntry.objects.get(campaign=campaign, action="campaign.create")
    assert "gmail.com" in entry.summary

    # Saving the settings again keeps it without asking; adding another asks.
    settings_url = reverse("organizing:settings", args=["fair-pay"])
    data = {key: value for key, value in NEW_CAMPAIGN.items() if key != "display_name"}
    assert CONFIRM not in client.get(settings_url).content.decode()
    assert client.post(settings_url, {**data, "name": "Fair pay now"}).status_code == 302
    response = client.post(settings_url, {**data, "allowed_domains": "gmail.com\nyahoo.com"})
    assert response.status_code == 400
    assert "yahoo.com is a public mail provider" in response.content.decode()
    assert "gmail.com is" not in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.allowed_domains == ["initech.example", "gmail.com"]
    response = client.post(
        settings_url,
        {**data, "allowed_domains": "gmail.com\nyahoo.com", "confirm_public_domains": "on"},
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.allowed_domains == ["gmail.com", "yahoo.com"]
    entry = AuditEntry.objects.filter(campaign=campaign, action="campaign.update").first()
    assert "public mail provider confirmed: yahoo.com" in entry.summary


def test_the_services_refuse_an_unconfirmed_public_mail_provider(roles):
    with pytest.raises(services.PublicMailDomain, match="hotmail.com, gmx.de are public"):
        services.campaign_create(
            creator=roles.organizer,
            name="X",
            slug="x",
            employer_name="E",
            allowed_domains="HOTMAIL.com\n@gmx.de\nx.example",
        )
    with pytest.raises(services.PublicMailDomain):
        services.campaign_update(
            actor=roles.organizer, campaign=roles.campaign, allowed_domains=["proton.me"]
        )
    roles.campaign.refresh_from_db()
    assert "proton.me" not in roles.campaign.allowed_domains
    services.campaign_update(
        actor=roles.organizer,
        campaign=roles.campaign,
        allowed_domains=["proton.me"],
        allow_public_mail_domains=True,
    )
    assert roles.campaign.allowed_domains == ["proton.me"]
    # A work domain that merely contains a provider's name is no provider.
    services.campaign_update(
        actor=roles.organizer, campaign=roles.campaign, allowed_domains=["gmail.com.example"]
    )


def test_short_name_has_a_hint_and_no_slug_jargon(roles, client_for):
    client = client_for(roles.organizer)
    page = client.get(reverse("organizing:campaign_create")).content.decode()
    assert "Short name for web addresses" in page
    assert "/c/fair-pay/" in page
    assert "Your display name in this campaign" in page
    for bad in ("not a slug!", "acme"):
        response = client.post(reverse("organizing:campaign_create"), {**NEW_CAMPAIGN, "slug": bad})
        assert response.status_code == 400
        # What a person reads (tags and their attributes left out).
        visible = re.sub(r"<[^>]+>", " ", response.content.decode().split("<main")[1])
        assert "slug" not in visible.lower()
    response = client.post(reverse("organizing:campaign_create"), {**NEW_CAMPAIGN, "slug": "acme"})
    assert "Another campaign already uses this short name" in response.content.decode()
    # Capitals are folded: the address is the same for everyone who types it.
    response = client.post(
        reverse("organizing:campaign_create"),
        {**NEW_CAMPAIGN, "slug": "Fair-Pay", "allowed_domains": "initech.example"},
    )
    assert response.status_code == 302
    assert Campaign.objects.filter(slug="fair-pay").exists()


def test_settings_bad_values_change_nothing(roles, client_for):
    response = client_for(roles.organizer).post(
        reverse("organizing:settings", args=["acme"]),
        {
            "name": "Changed",
            "employer_name": "Acme",
            "allowed_domains": "",
            "k_threshold": 0,
            "approval_quorum": 2,
        },
    )
    assert response.status_code == 400
    campaign = Campaign.objects.get(pk=roles.campaign.pk)
    assert campaign.name == "Acme workers"
    assert not AuditEntry.objects.filter(action="campaign.update").exists()


def test_dashboard_lists_only_ones_own_campaigns(roles, client_for):
    content = client_for(roles.member).get(reverse("organizing:dashboard")).content.decode()
    assert "Acme workers" in content
    assert "Other workers" not in content
    # The member has no second factor: the page says how to get one.
    assert reverse("mfa_index") in content


def test_dashboard_links_organizers_to_manage(roles, client_for):
    content = client_for(roles.organizer).get(reverse("organizing:dashboard")).content.decode()
    assert reverse("organizing:manage", args=["acme"]) in content
    member_page = client_for(roles.member).get(reverse("organizing:dashboard")).content.decode()
    assert reverse("organizing:manage", args=["acme"]) not in member_page


def test_manage_page_lists_members_invitations_and_audit(roles, targets, client_for):
    content = client_for(roles.organizer).get(reverse("organizing:manage", args=["acme"]))
    text = content.content.decode()
    for name in ("Org", "Del", "Mem", "Extra"):
        assert f'<span class="member-name">{name}</span>' in text
    assert "invitation.create" in text
    assert "Other" not in text.split("<main")[1].split("Recent activity")[0]


# --- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/c/no-such-campaign/",
        "/c/no-such-campaign/manage/",
        "/c/acme/invitations/999999/revoke/",
        "/c/acme/members/999999/remove/",
        "/c/acme/members/999999/role/",
        "/join/not-a-real-token/",
        "/join/" + "x" * 300 + "/",
    ],
)
def test_unknown_objects_are_404(roles, client_for, path):
    client = client_for(roles.organizer)
    response = client.post(path, {"role": "member"}) if "/c/acme/" in path else client.get(path)
    assert response.status_code == 404


def test_objects_of_another_campaign_are_404(roles, client_for):
    foreign = MembershipFactory(campaign=roles.other_campaign)
    foreign_invite = services.invitation_create(
        actor=roles.other_organizer, campaign=roles.other_campaign
    ).invitation
    client = client_for(roles.organizer)
    assert client.post(f"/c/acme/members/{foreign.pk}/remove/").status_code == 404
    response = client.post(f"/c/acme/members/{foreign.pk}/role/", {"role": "organizer"})
    assert response.status_code == 404
    assert client.post(f"/c/acme/invitations/{foreign_invite.pk}/revoke/").status_code == 404
    assert Membership.objects.filter(pk=foreign.pk, role=Role.MEMBER).exists()
    foreign_invite.refresh_from_db()
    assert foreign_invite.revoked_at is None


@pytest.mark.parametrize(
    "data",
    [
        {"role": "king", "max_uses": 1, "valid_days": 7},
        {"role": "member", "max_uses": 0, "valid_days": 7},
        {"role": "member", "max_uses": 10001, "valid_days": 7},
        {"role": "member", "max_uses": "many", "valid_days": 7},
        {"role": "member", "max_uses": 1, "valid_days": 0},
        {"role": "member", "max_uses": 1, "valid_days": 91},
        {"role": "member", "max_uses": 1, "valid_days": 7, "label": "x" * 81},
        {},
    ],
)
def test_invitation_bad_values_are_400(roles, client_for, data):
    response = client_for(roles.organizer).post(
        reverse("organizing:invitation_create", args=["acme"]), data
    )
    assert response.status_code == 400
    assert b"The invitation was not created" in response.content
    assert not Invitation.objects.exists()


def test_unknown_role_is_400(roles, targets, client_for):
    response = client_for(roles.organizer).post(
        reverse("organizing:member_role", args=["acme", targets.extra.pk]), {"role": "admin"}
    )
    assert response.status_code == 400
    assert b"Unknown role" in response.content
    targets.extra.refresh_from_db()
    assert targets.extra.role == Role.MEMBER


@pytest.mark.parametrize(
    "name, message",
    [("", "is required"), ("   ", "is required"), ("x" * 61, "is longer than 60 characters")],
)
def test_bad_display_name_is_400(roles, client_for, name, message):
    response = client_for(roles.member).post(
        reverse("organizing:member_rename", args=["acme"]), {"display_name": name}
    )
    assert response.status_code == 400
    assert f"“Display name” {message}" in response.content.decode()
    assert Membership.objects.get(user=roles.member).display_name == "Mem"


def test_audit_page_survives_bad_page_numbers(roles, client_for):
    client = client_for(roles.organizer)
    for page in ("abc", "-1", "99999", "1.5"):
        response = client.get(reverse("organizing:audit", args=["acme"]), {"page": page})
        assert response.status_code == 200


def test_expired_invitation_page_is_410(roles, client_for):
    created = services.invitation_create(
        actor=roles.organizer, campaign=roles.campaign, valid_for=timedelta(minutes=5)
    )
    Invitation.objects.filter(pk=created.invitation.pk).update(
        expires_at=created.invitation.created_at - timedelta(seconds=1)
    )
    response = client_for(make_user()).get(reverse("organizing:join", args=[created.token]))
    assert response.status_code == 410
    assert b"expired, been revoked or used up" in response.content
