"""The invitation a visitor opened before they had an account.

Creating an account leaves /join/<token>/ for allauth's pages, and the path
back is easily lost: the header's "Create account" link carries no `next`, a
code typed after the sign-in stage timed out ends on the login page, a
person signs in another day. So the join page remembers the token in a signed
cookie of the visitor's own browser (the server stores no invitation token,
only its hash), and the first page after signing up, confirming the address
or signing in leads back to it (organizing.adapters), as does the dashboard.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from organizing.models import Invitation
from organizing.services import invitation_for_token, membership_for

COOKIE = "pending_invitation"
SALT = "organizing.pending-invitation"
# Long enough to create an account and confirm it another day.
KEPT_AT_MOST = timedelta(days=7)


def invitation_remember(response, *, token: str, invitation: Invitation) -> None:
    """Keep `token` in the visitor's browser until the invitation expires (a
    week at most)."""
    kept = min(invitation.expires_at - timezone.now(), KEPT_AT_MOST)
    seconds = int(kept.total_seconds())
    if seconds <= 0:
        return
    response.set_signed_cookie(
        COOKIE,
        token,
        salt=SALT,
        max_age=seconds,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def invitation_forget(request, response) -> None:
    """Drop the remembered invitation (joined, or already a member)."""
    if COOKIE in request.COOKIES:
        response.delete_cookie(COOKIE, samesite="Lax")


def pending_invitation(request) -> tuple[Invitation, str] | None:
    """(invitation, its join page) remembered by this browser that the
    signed-in user can still accept: usable, of a campaign they are not part
    of yet."""
    token = request.get_signed_cookie(
        COOKIE, default=None, salt=SALT, max_age=int(KEPT_AT_MOST.total_seconds())
    )
    if not token:
        return None
    invitation = invitation_for_token(token)
    if invitation is None or not invitation.is_usable:
        return None
    if membership_for(user=request.user, campaign=invitation.campaign) is not None:
        return None
    return invitation, reverse("organizing:join", args=[token])


def pending_join_url(request) -> str | None:
    """The join page of the pending invitation, if there is one."""
    pending = pending_invitation(request)
    return pending[1] if pending else None
