"""Two-factor authentication: what a session proved, and helpers for seeding.

An account *having* a second factor is not enough to act as an organizer or
delegate: the session acting must have *completed* it. allauth records every
authentication step of a session (`account_authentication_methods`); a step
with method "mfa" names the authenticator it used. Django's admin login and
`Client.force_login` record no such step, so their sessions never pass.

What the session proved is put on the user object of the request (or
websocket scope) as `mfa_session`, so that the services, which receive only
`user`, can check it (organizing.services.user_passed_mfa). A user object
that did not come through a request has no such attribute and does not pass:
the command line says so explicitly with `acting_from_command_line`.
"""

from __future__ import annotations

import time

from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django.contrib.auth import middleware as auth_middleware
from django.utils.functional import SimpleLazyObject

# The attribute of a request's user that says what its session proved: the
# ids of the authenticators it completed, or COMMAND_LINE.
MFA_SESSION = "mfa_session"
COMMAND_LINE = "command-line"


def session_authenticators(session) -> frozenset[int]:
    """The authenticators this session completed a second factor with."""
    records = session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    return frozenset(
        record["id"]
        for record in records
        if isinstance(record, dict)
        and record.get("method") == "mfa"
        and isinstance(record.get("id"), int)
    )


def mark_session_assurance(user, session):
    """Record on `user` what `session` proved (no query: checked when needed)."""
    if user is not None and user.is_authenticated:
        setattr(user, MFA_SESSION, session_authenticators(session))
    return user


def acting_from_command_line(user):
    """Mark `user` as acting through the server's command line (seed_demo).

    Whoever runs manage.py on the server holds the database and SECRET_KEY:
    a second factor protects nothing more from them.
    """
    setattr(user, MFA_SESSION, COMMAND_LINE)
    return user


def session_completed_mfa(user) -> bool:
    """Did the session of `user` complete a second factor that still exists?

    Removing the authenticator a session used takes that session's rights
    away with it: the user confirms another factor or signs in again.
    """
    proved = getattr(user, MFA_SESSION, None)
    if proved == COMMAND_LINE:
        return True
    if not proved:
        return False
    return Authenticator.objects.filter(user_id=user.pk, pk__in=proved).exists()


def on_authenticator_added(*, request, user, authenticator, **kwargs) -> None:
    """allauth's authenticator_added receiver: activating TOTP or a security
    key means typing its code or touching it in this session, which is as
    much proof of the factor as the next login would give. (Whoever could
    add a factor could also sign in with it: nothing is weakened.)"""
    if request is None or authenticator.type == Authenticator.Type.RECOVERY_CODES:
        return
    record_authentication(
        request, user, "mfa", id=authenticator.pk, type=authenticator.type, activated=True
    )


def totp_enable(user, secret: str) -> Authenticator:
    """Give `user` a TOTP authenticator with `secret` (base32) and recovery codes."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is None:
        existing = TOTP.activate(user, secret).instance
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists():
        RecoveryCodes.activate(user)
    return existing


def totp_current_code(secret: str) -> str:
    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def recovery_codes(user) -> list[str]:
    authenticator = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.RECOVERY_CODES
    ).first()
    return RecoveryCodes(authenticator).get_unused_codes() if authenticator else []


class AuthenticationMiddleware(auth_middleware.AuthenticationMiddleware):
    """Django's, and the user it gives carries what this session proved
    (above): an organizer's powers need a second factor completed in
    this session, not only an account that has one."""

    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(
            lambda: mark_session_assurance(auth_middleware.get_user(request), request.session)
        )
