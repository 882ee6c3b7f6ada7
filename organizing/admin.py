from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from core.admin import ReadOnlyAdmin, ReadOnlyPermissions
from organizing.models import AuditEntry, Campaign, Invitation, Membership, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "is_staff", "is_active", "date_joined"]
    search_fields = ["email"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


class MembershipInline(ReadOnlyPermissions, admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


# Campaigns, memberships and invitations change on the campaign's pages, through
# organizing.services (role checks, the audit log): here they are read-only.
@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ["name", "slug", "employer_name", "k_threshold", "approval_quorum"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "role", "uses", "max_uses", "expires_at", "revoked_at"]
    list_filter = ["role"]
    readonly_fields = ["token_hash", "uses"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: the audit log is append-only, for operators too."""

    list_display = ["created_at", "campaign", "actor_label", "action", "summary"]
    list_filter = ["action"]
