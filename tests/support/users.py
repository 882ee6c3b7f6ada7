"""Users as the tests need them: with or without a second factor, and the
roles of one campaign (the `roles` fixture in tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass

from organizing.mfa import totp_enable
from organizing.models import Campaign, User
from tests.support.factories import UserFactory
from tests.support.sessions import with_mfa_session

TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def make_user(*, mfa: bool = False, **kwargs) -> User:
    """A user; with `mfa`, a TOTP authenticator, and the object marked as
    acting in a session that completed it (what a request's user would be)."""
    user = UserFactory(**kwargs)
    if mfa:
        totp_enable(user, TEST_TOTP_SECRET)
        with_mfa_session(user)
    return user


@dataclass
class Roles:
    campaign: Campaign
    organizer: User
    delegate: User
    member: User
    other_organizer: User  # organizer of a different campaign
    other_campaign: Campaign

    def users(self) -> dict[str, User | None]:
        """Every role, plus the anonymous visitor (None)."""
        return {
            "anonymous": None,
            "member": self.member,
            "delegate": self.delegate,
            "organizer": self.organizer,
            "other_organizer": self.other_organizer,
        }
