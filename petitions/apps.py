from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PetitionsConfig(AppConfig):
    name = "petitions"
    verbose_name = _("Petitions")

    def ready(self):
        # Imported here, not at the top: they load models, which Django allows
        # only once the app registry is ready.
        from petitions import tasks  # noqa: F401 - registers signatures.export.render
        from petitions.services import receipt_exports
        from signatures.signals import receipt_exports_requested

        receipt_exports_requested.connect(receipt_exports, dispatch_uid="petitions.receipt_exports")
