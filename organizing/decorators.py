"""View decorators that load a campaign and check the visitor's role."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from organizing.models import Campaign, Role
from organizing.services import MFARequired, require_role


def campaign_role_required(*roles: str):
    """Pass `campaign` and `membership` to the view, or refuse.

    Anonymous visitors go to the login page; members without the role get a
    403 page; organizers and delegates whose session did not complete a
    second factor get a 403 page that links to the two-factor set-up, or to
    confirming the factor they have.
    """
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        def wrapper(request, slug, *args, **kwargs):
            campaign = get_object_or_404(Campaign, slug=slug)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                membership = require_role(user=request.user, campaign=campaign, roles=allowed)
            except MFARequired as exc:
                return render(
                    request,
                    "organizing/mfa_required.html",
                    {"campaign": campaign, "needs_setup": exc.needs_setup},
                    status=403,
                )
            except PermissionDenied:
                return render(
                    request, "organizing/forbidden.html", {"campaign": campaign}, status=403
                )
            return view(request, *args, campaign=campaign, membership=membership, **kwargs)

        return wrapper

    return decorator


organizer_required = campaign_role_required(Role.ORGANIZER)
staff_of_campaign_required = campaign_role_required(Role.ORGANIZER, Role.DELEGATE)
member_required = campaign_role_required(Role.ORGANIZER, Role.DELEGATE, Role.MEMBER)
