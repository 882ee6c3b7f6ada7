from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.contrib.auth.signals import user_logged_in


class OperatorAdminConfig(admin_apps.AdminConfig):
    """Django's admin, on a site that needs a second factor (organizing.admin_site)."""

    default = False  # not the configuration of the `organizing` app
    default_site = "organizing.admin_site.OperatorAdminSite"


class OrganizingConfig(AppConfig):
    name = "organizing"
    verbose_name = "Organizing"

    def ready(self):
        # Imported here, not at the top: they load models, which Django allows
        # only once the app registry is ready.
        from allauth.mfa import signals as mfa_signals

        from organizing import mfa, services

        # Setting up a second factor completes it for the session doing so.
        mfa_signals.authenticator_added.connect(
            mfa.on_authenticator_added, dispatch_uid="organizing.mfa.authenticator_added"
        )

        # Login times are kept to the day: replace Django's receiver, which
        # stores them to the microsecond (django.contrib.auth, listed before
        # this app, has connected it by now).
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(services.on_user_logged_in, dispatch_uid="organizing_login_day")
