"""Deployment checks of our own (`manage.py check --deploy`, which the
production start-up runs: deploy/systemd/organizing-web.service, Procfile)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# Backends that deliver mail somewhere the operator chose (EMAIL_URL,
# EMAIL_FILE_PATH); the console backend, the embedded default, prints it.
DELIVERING_MAIL_BACKENDS = {
    "django.core.mail.backends.smtp.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


@register(Tags.security, deploy=True)
def check_mail_backend(app_configs, **kwargs):
    """A deployment without a mail server would print every code mail, with
    the signer's work address and code, to the service log."""
    if settings.EMAIL_BACKEND in DELIVERING_MAIL_BACKENDS:
        return []
    return [
        Error(
            "No mail server is configured: every email (a signer's work address and "
            "their code) would be printed to the service log.",
            hint="Set EMAIL_URL (smtp+tls://user@host:587 or smtps://user@host:465), "
            "or EMAIL_FILE_PATH to write mail to files in that folder.",
            id="organizing.E002",
        )
    ]
