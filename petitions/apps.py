from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PetitionsConfig(AppConfig):
    name = "petitions"
    verbose_name = _("Petitions")

    def ready(self):
        from petitions.services import register_hooks

        register_hooks()  # receipt lookups of the petition export, and its Celery task
