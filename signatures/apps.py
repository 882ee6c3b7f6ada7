from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "signatures"

    def ready(self):
        # Imported here, not at the top: they load models, which Django allows
        # only once the app registry is ready.
        from letters.signals import letter_closed, letter_opened
        from organizing.signals import demo_seeded
        from signatures.demo import seed_signatures_demo
        from signatures.services.batches import on_letter_closed
        from signatures.services.issuance import on_letter_opened

        letter_opened.connect(on_letter_opened, dispatch_uid="signatures.issuer_key")
        letter_closed.connect(on_letter_closed, dispatch_uid="signatures.seal_on_close")
        # After letters' receiver (apps are ready in INSTALLED_APPS order):
        # the open demo letter must exist to get its issuer key.
        demo_seeded.connect(seed_signatures_demo, dispatch_uid="signatures.demo")
