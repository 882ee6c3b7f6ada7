"""Sessions as allauth leaves them, for tests that log people in directly.

Organizer and delegate powers need a session that completed a second factor
(organizing.mfa). `Client.force_login` alone makes a password-only session,
which is what the attack tests want and nothing else does.
"""

from __future__ import annotations

import time

from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.models import Authenticator

from organizing.mfa import MFA_SESSION


def mfa_session_data(user) -> dict:
    """Session data as allauth leaves it after a password and a TOTP code
    (empty of any second factor when the account has none)."""
    records = [{"method": "password", "at": time.time(), "email": user.email}]
    totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if totp is not None:
        records.append({"method": "mfa", "at": time.time(), "id": totp.pk, "type": totp.type})
    return {AUTHENTICATION_METHODS_SESSION_KEY: records}


def with_mfa_session(user):
    """Mark `user` as a request's user whose session completed its TOTP."""
    records = mfa_session_data(user)[AUTHENTICATION_METHODS_SESSION_KEY]
    setattr(user, MFA_SESSION, frozenset(r["id"] for r in records if r["method"] == "mfa"))
    return user


def login_with_mfa(client, user) -> None:
    """Log `client` in as `user` as allauth would after the password and, when
    the account has one, the second factor."""
    client.force_login(user)
    session = client.session
    session.update(mfa_session_data(user))
    session.save()
