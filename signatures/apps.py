from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "signatures"

    def ready(self):
        from letters.signals import letter_opened
        from organizing.management.commands.seed_demo import seed_hooks
        from signatures.demo import seed_signatures_demo
        from signatures.services import on_letter_opened

        letter_opened.connect(on_letter_opened, dispatch_uid="signatures.issuer_key")
        from signatures.export.services import register_hooks

        register_hooks()  # receipt lookups of the petition export, and its Celery task
        if seed_signatures_demo not in seed_hooks:
            seed_hooks.append(seed_signatures_demo)
