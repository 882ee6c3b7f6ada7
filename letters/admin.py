from django.contrib import admin

from letters.models import Letter


@admin.register(Letter)
class LetterAdmin(admin.ModelAdmin):
    list_display = ["title", "campaign", "state", "visibility", "opened_at"]
    list_filter = ["state"]
    readonly_fields = ["text_hash", "state", "current_revision"]
