from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LettersConfig(AppConfig):
    name = "letters"
    verbose_name = _("Letters")

    def ready(self):
        from letters.demo import seed_letters
        from organizing.management.commands import seed_demo

        if seed_letters not in seed_demo.seed_hooks:
            seed_demo.seed_hooks.append(seed_letters)
