"""The operators' admin site: behind allauth's login and a second factor.

Django's own admin login checks a password only, and its session would then
pass every other check. Here the admin has no login form: /operator/login/
sends people to allauth's login (which asks for the second factor), and
every admin page needs a session that completed one.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from organizing.services import account_has_mfa, user_passed_mfa


class OperatorAdminSite(admin.AdminSite):
    site_header = _("Organizing: operators")
    site_title = _("Organizing operators")

    def has_permission(self, request):
        return super().has_permission(request) and user_passed_mfa(request.user)

    def login(self, request, extra_context=None):
        """No password form: allauth signs in, with the second factor."""
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index", current_app=self.name)
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(next_url, login_url=reverse("account_login"))
        if not (user.is_active and user.is_staff):
            raise PermissionDenied(_("This account is not an operator's."))
        if not account_has_mfa(user):
            return redirect("mfa_index")
        if not user_passed_mfa(user):
            return redirect_to_login(next_url, login_url=reverse("mfa_reauthenticate"))
        return redirect(next_url)
