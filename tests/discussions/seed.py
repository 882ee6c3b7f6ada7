"""Seed a database for the channel servers: python -m tests.discussions.seed '<json>'.

Spec: {"organizer": "name", "members": ["alice", ...], "member_count": 0,
"channel": "general"}. Prints one JSON line: the channel id, membership ids
and a logged-in session key per person (created with Django's session store).
"""

from __future__ import annotations

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

# Models can only be imported once Django is set up.
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import transaction  # noqa: E402

from discussions import services as svc  # noqa: E402
from organizing.mfa import totp_enable  # noqa: E402
from organizing.models import Campaign, Membership, Role, User  # noqa: E402
from tests.support.sessions import mfa_session_data, with_mfa_session  # noqa: E402


def main(spec: dict) -> dict:
    def session_for(user) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.update(mfa_session_data(user))  # the organizer's second factor
        store.create()
        return store.session_key

    names = list(spec.get("members", []))
    names += [f"m{i:05d}" for i in range(spec.get("member_count", 0))]
    with transaction.atomic():
        campaign = Campaign.objects.create(name="Acme workers", slug="acme", employer_name="Acme")
        organizer = User.objects.create_user(email="organizer@personal.test")
        organizer.set_unusable_password()
        organizer.save()
        totp_enable(organizer, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        org_membership = Membership.objects.create(
            campaign=campaign,
            user=organizer,
            role=Role.ORGANIZER,
            display_name=spec.get("organizer", "Organizer"),
        )
        users = User.objects.bulk_create(
            [User(email=f"{n}@personal.test", password="!") for n in names]  # noqa: S106
        )
        memberships = Membership.objects.bulk_create(
            [
                Membership(campaign=campaign, user=u, role=Role.MEMBER, display_name=n)
                for u, n in zip(users, names, strict=True)
            ]
        )
    channel = svc.channel_create(
        actor=with_mfa_session(organizer), campaign=campaign, name=spec.get("channel", "general")
    )
    result = {
        "channel_id": channel.pk,
        "sessions": {"organizer": session_for(organizer)},
        "memberships": {"organizer": org_membership.pk},
    }
    for user, membership, name in zip(users, memberships, names, strict=True):
        result["sessions"][name] = session_for(user)
        result["memberships"][name] = membership.pk
    return result


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(json.loads(sys.argv[1]))) + "\n")
