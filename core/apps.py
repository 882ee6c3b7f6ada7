from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting helpers with no models (middleware, CSRF, logging, ...).

    An app only so that its system checks register and its templates and
    template tags are found."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from core import checks, csrf  # noqa: F401 - they register system checks
