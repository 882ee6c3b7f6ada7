from django.apps import AppConfig


class OrganizingConfig(AppConfig):
    name = "organizing"
    verbose_name = "Organizing"

    def ready(self):
        from organizing import channel_services, csrf, services  # noqa: F401 (csrf: checks)

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
