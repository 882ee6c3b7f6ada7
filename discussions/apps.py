from django.apps import AppConfig

from organizing import signals


class DiscussionsConfig(AppConfig):
    name = "discussions"
    verbose_name = "Discussions"

    def ready(self):
        # Imported here, not at the top: both import models, which exist only
        # once the app registry is ready.
        from allauth.mfa import signals as mfa_signals

        from discussions import receivers

        # Removing a member rotates the keys of the channels they could read.
        signals.membership_removed.connect(
            receivers.on_membership_removed, dispatch_uid="discussions.membership_removed"
        )
        # So does losing, through a role change, the right to join a channel.
        signals.membership_role_changed.connect(
            receivers.on_membership_role_changed,
            dispatch_uid="discussions.membership_role_changed",
        )
        # An organizer who removes their last second factor loses their sockets.
        mfa_signals.authenticator_removed.connect(
            receivers.on_authenticator_removed, dispatch_uid="discussions.authenticator_removed"
        )
