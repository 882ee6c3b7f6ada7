"""discussions.events is the one door to real time: every event for the
websockets leaves through `events.send`, and an event about a stored change
leaves only once its transaction commits."""

from __future__ import annotations

import ast

import pytest
from django.db import transaction

from discussions import events
from discussions import services as svc
from organizing.models import Membership
from tests.contracts.source import project_modules
from tests.discussions.helpers import fake_ciphertext


def test_nothing_but_events_send_reaches_the_channel_layer():
    senders = []
    for module in project_modules():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and node.attr == "group_send":
                senders.append(module.name)
    assert senders == ["discussions.events"]


@pytest.fixture
def sent(monkeypatch):
    """The events that reach the channel layer, as (group, event)."""
    seen = []

    async def send(group, event):
        seen.append((group, event))

    monkeypatch.setattr(events, "send", send)
    return seen


@pytest.fixture
def posting(roles):
    channel = svc.channel_create(actor=roles.organizer, campaign=roles.campaign, name="general")
    member = Membership.objects.get(user=roles.member, campaign=roles.campaign)

    def post():
        return svc.message_post(
            membership_id=member.pk,
            channel_id=channel.pk,
            epoch=channel.current_epoch,
            **fake_ciphertext(),
        )

    return channel, post


@pytest.mark.django_db(transaction=True)
def test_an_event_leaves_after_the_commit(sent, posting):
    channel, post = posting
    with transaction.atomic():
        message = post()
        assert sent == []  # not while the change could still be rolled back
    assert [(group, event["kind"]) for group, event in sent] == [
        (events.channel_group(channel.pk), "message")
    ]
    assert f'"id": {message["id"]}' in sent[0][1]["text"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_sends_nothing(sent, posting):
    _channel, post = posting

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        post()
        raise Abort
    assert sent == []
