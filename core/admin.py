"""Admin helpers for every app."""

from django.contrib import admin


class ReadOnlyPermissions:
    """For ModelAdmin and inlines: operators may look, not write.

    Writes go through the apps' services (role checks, the state machines, the
    audit log); the admin would bypass all three.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    pass
