"""Accounts, pages and discussion channels with Redis unreachable
(docs/operations.md, "When Redis is down").

Sessions live in the database, so signed-in pages keep working. Logging in
pauses with a 503 page: allauth's limits on password guessing and its
replay protection of one-time codes are counters in Redis, and guessing
must not go unchecked. Channel writes commit even when their publication
fails; a websocket is refused with a close code and a message.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from discussions import services as svc
from discussions.consumers import CLOSE_UNAVAILABLE
from discussions.models import DiscussionChannel
from organizing.models import User
from tests.discussions.helpers import refused
from tests.support.services import assert_unavailable_page
from tests.support.users import make_user


@pytest.mark.django_db
def test_pages_that_read_the_database_keep_working(roles, client_for, redis_down):
    anonymous = Client()
    for path in ("/", "/healthz", "/accounts/login/", "/accounts/signup/", "/c/acme/"):
        assert anonymous.get(path).status_code == 200, path
    # Sessions are in the database: signed-in people keep their pages.
    member = client_for(roles.member)
    assert member.get(reverse("organizing:dashboard")).status_code == 200


@pytest.mark.django_db
def test_logging_in_pauses_with_a_503_page(redis_down):
    """Fails closed: allauth counts failed logins in Redis; without the count,
    passwords could be guessed at full speed."""
    make_user(email="m@personal.test", password="correct horse battery")
    client = Client()
    response = client.post(
        reverse("account_login"),
        {"login": "m@personal.test", "password": "correct horse battery"},
    )
    assert_unavailable_page(response)
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("account_reset_password"), {"email": "m@personal.test"})
    assert_unavailable_page(response)
    response = client.post(
        reverse("account_signup"),
        {
            "email": "n@personal.test",
            "password1": "a long passphrase",
            "password2": "a long passphrase",
        },
    )
    assert_unavailable_page(response)
    assert not User.objects.filter(email="n@personal.test").exists()


@pytest.mark.django_db(transaction=True)
def test_a_channel_change_commits_when_its_publication_fails(roles, client_for, redis_down):
    channel = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    response = client_for(roles.organizer).post(
        f"/c/acme/channels/{channel.pk}/archive/", {"archived": "1"}
    )
    assert response.status_code == 302
    assert DiscussionChannel.objects.get(pk=channel.pk).is_archived


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_a_websocket_is_refused_with_a_close_code(roles, redis_down, who):
    channel = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    user = roles.users()[who]
    error, code = async_to_sync(refused)(user, channel.pk)
    assert code == CLOSE_UNAVAILABLE
    assert error["type"] == "error" and error["code"] == "unavailable"
    assert "Try again" in error["message"]
