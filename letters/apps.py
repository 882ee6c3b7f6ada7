from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LettersConfig(AppConfig):
    name = "letters"
    verbose_name = _("Letters")

    def ready(self):
        # Imported here, not at the top: they load models, which Django allows
        # only once the app registry is ready.
        from letters.demo import seed_letters
        from organizing.signals import demo_seeded

        demo_seeded.connect(seed_letters, dispatch_uid="letters.demo")
