"""Channel pages: authorization for every role, forms, bad input."""

from __future__ import annotations

import pytest

from discussions import services as svc
from discussions.models import DiscussionChannel
from organizing.models import AuditEntry, Role


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def channel(roles):
    return svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")


@pytest.fixture
def organizers_only(roles):
    return svc.channel_create(
        actor=roles.organizer, campaign=roles.campaign, name="orgs", allowed_roles=[Role.ORGANIZER]
    )


def _expect(response, status):
    if status == "login":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == status


LIST = {
    "anonymous": "login",
    "member": 200,
    "delegate": 200,
    "organizer": 200,
    "other_organizer": 403,
}


def test_list_for_every_role(roles, client_for, channel, organizers_only):
    for role, user in roles.users().items():
        response = client_for(user).get("/c/acme/channels/")
        _expect(response, LIST[role])
        if LIST[role] == 200:
            body = response.content.decode()
            assert "#general" in body
            # Organizers-only channels are listed for organizers only.
            assert ("#orgs" in body) == (role == "organizer")
            assert ("New channel" in body) == (role == "organizer")


def test_room_for_every_role(roles, client_for, channel, organizers_only):
    room = {
        "anonymous": "login",
        "member": 200,
        "delegate": 200,
        "organizer": 200,
        "other_organizer": 403,
    }
    orgs = {
        "anonymous": "login",
        "member": 403,
        "delegate": 403,
        "organizer": 200,
        "other_organizer": 403,
    }
    for role, user in roles.users().items():
        response = client_for(user).get(f"/c/acme/channels/{channel.pk}/")
        _expect(response, room[role])
        if room[role] == 200:
            body = response.content.decode()
            assert f'data-ws-path="/ws/channels/{channel.pk}/"' in body
            assert "js/channels.js" in body
            assert "<script>" not in body and "style=" not in body
        _expect(client_for(user).get(f"/c/acme/channels/{organizers_only.pk}/"), orgs[role])
    assert client_for(roles.organizer).get("/c/acme/channels/999999/").status_code == 404


ORGANIZER_ONLY = {
    "anonymous": "login",
    "member": 403,
    "delegate": 403,
    "organizer": None,
    "other_organizer": 403,
}


def test_create_for_every_role(roles, client_for):
    for role, user in roles.users().items():
        response = client_for(user).post(
            "/c/acme/channels/new/",
            {"name": f"by-{role}", "allowed_roles": ["organizer", "member"], "retention_days": 7},
        )
        if ORGANIZER_ONLY[role] is None:
            assert response.status_code == 302
            created = DiscussionChannel.objects.get(name=f"by-{role}")
            assert created.allowed_roles == ["organizer", "member"]
            assert created.retention_days == 7
            assert response["Location"] == f"/c/acme/channels/{created.pk}/"
        else:
            _expect(response, ORGANIZER_ONLY[role])
    assert list(DiscussionChannel.objects.values_list("name", flat=True)) == ["by-organizer"]
    assert AuditEntry.objects.filter(action="channel.create").count() == 1


def test_create_bad_input_is_a_400_with_a_message(roles, client_for, channel):
    client = client_for(roles.organizer)
    cases = [
        {"name": "", "allowed_roles": ["member"], "retention_days": 0},
        {"name": "x", "allowed_roles": [], "retention_days": 0},
        {"name": "x", "allowed_roles": ["king"], "retention_days": 0},
        {"name": "x", "allowed_roles": ["member"], "retention_days": 3},
        {"name": "general", "allowed_roles": ["member"], "retention_days": 0},
        {"name": "y" * 81, "allowed_roles": ["member"], "retention_days": 0},
    ]
    for data in cases:
        response = client.post("/c/acme/channels/new/", data)
        assert response.status_code == 400, data
        assert 'class="error' in response.content.decode() or "errors" in response.content.decode()
    assert DiscussionChannel.objects.count() == 1


def test_settings_and_archive_for_every_role(roles, client_for, channel):
    for role, user in roles.users().items():
        client = client_for(user)
        get = client.get(f"/c/acme/channels/{channel.pk}/settings/")
        post = client.post(
            f"/c/acme/channels/{channel.pk}/settings/",
            {"name": "renamed", "allowed_roles": ["organizer", "delegate"], "retention_days": 1},
        )
        archive = client.post(f"/c/acme/channels/{channel.pk}/archive/", {"archived": "1"})
        if ORGANIZER_ONLY[role] is None:
            assert get.status_code == 200
            assert post.status_code == 302 and archive.status_code == 302
        else:
            for response in (get, post, archive):
                _expect(response, ORGANIZER_ONLY[role])
    channel.refresh_from_db()
    assert channel.name == "renamed"
    assert channel.allowed_roles == ["organizer", "delegate"]
    assert channel.retention_days == 1
    assert channel.is_archived
    # Taking the member role away started a new key epoch.
    assert channel.current_epoch == 2
    client_for(roles.organizer).post(f"/c/acme/channels/{channel.pk}/archive/", {"archived": "0"})
    channel.refresh_from_db()
    assert not channel.is_archived


def test_settings_bad_input(roles, client_for, channel):
    response = client_for(roles.organizer).post(
        f"/c/acme/channels/{channel.pk}/settings/",
        {"name": "", "allowed_roles": [], "retention_days": "soon"},
    )
    assert response.status_code == 400
    channel.refresh_from_db()
    assert channel.name == "general"


def test_campaign_page_links_channels_for_members_only(roles, client_for):
    for role, user in roles.users().items():
        body = client_for(user).get("/c/acme/").content.decode()
        assert ("/c/acme/channels/" in body) == (role in {"member", "delegate", "organizer"})
