"""Helpers around allauth's MFA for seeding and tests."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value


def totp_enable(user, secret: str) -> Authenticator:
    """Give `user` a TOTP authenticator with `secret` (base32) and recovery codes."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is None:
        existing = TOTP.activate(user, secret).instance
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists():
        RecoveryCodes.activate(user)
    return existing


def totp_secret(user) -> str | None:
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return decrypt(authenticator.data["secret"]) if authenticator else None


def totp_current_code(secret: str) -> str:
    import time

    from allauth.mfa import app_settings

    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def recovery_codes(user) -> list[str]:
    authenticator = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.RECOVERY_CODES
    ).first()
    return RecoveryCodes(authenticator).get_unused_codes() if authenticator else []
