"""Read-only admin: letters change only through letters.services (role checks,
state machine, audit log), and an open letter's text can never change."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from letters.models import Approval, Comment, Letter, Revision


@admin.register(Letter)
class LetterAdmin(ReadOnlyAdmin):
    list_display = ["title", "campaign", "state", "visibility", "opened_at"]
    list_filter = ["state", "visibility"]


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ["letter", "number", "created_at"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ["letter", "revision", "approver_name", "created_at", "voided_at"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    list_display = ["letter", "revision", "author_name", "created_at", "resolved_at"]
