from django.apps import AppConfig


class DiscussionsConfig(AppConfig):
    name = "discussions"
    verbose_name = "Discussions"

    def ready(self):
        from allauth.mfa import signals as mfa_signals

        from discussions import services as channel_services
        from organizing import services

        # An organizer who removes their last second factor loses their sockets.
        mfa_signals.authenticator_removed.connect(
            channel_services.on_authenticator_removed,
            dispatch_uid="organizing.channels.authenticator_removed",
        )

        # Removing a member rotates the keys of the channels they could read.
        if channel_services.on_membership_removed not in services.membership_removed_hooks:
            services.membership_removed_hooks.append(channel_services.on_membership_removed)
        # So does losing, through a role change, the right to join a channel.
        if (
            channel_services.on_membership_role_changed
            not in services.membership_role_changed_hooks
        ):
            services.membership_role_changed_hooks.append(
                channel_services.on_membership_role_changed
            )
