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
        from signatures import services as signature_services

        if receipt_exports not in signature_services.receipt_export_lookups:
            signature_services.receipt_export_lookups.append(receipt_exports)
