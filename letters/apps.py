from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LettersConfig(AppConfig):
    name = "letters"
    verbose_name = _("Letters")

    def ready(self):
        from letters.demo import seed_letters
        from organizing.signals import demo_seeded

        demo_seeded.connect(seed_letters, dispatch_uid="letters.demo")
