"""CSRF protection that works with `Referrer-Policy: no-referrer`.

Under no-referrer, browsers send neither a Referer nor a real Origin with our
own form posts (Chromium sends `Origin: null`), and Django's origin/referer
checks refuse them. Modern browsers also send Fetch Metadata:
`Sec-Fetch-Site: same-origin` says the request came from a page of this very
origin, and pages cannot forge `Sec-*` headers. So when the Origin is "null"
or the Referer is missing, we accept `Sec-Fetch-Site: same-origin` in their
place. The CSRF token is still required in every case.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware


def _same_origin_by_fetch_metadata(request) -> bool:
    return request.META.get("HTTP_SEC_FETCH_SITE") == "same-origin"


class CsrfViewMiddleware(DjangoCsrfViewMiddleware):
    def _origin_verified(self, request):
        if request.META.get("HTTP_ORIGIN") == "null" and _same_origin_by_fetch_metadata(request):
            return True
        return super()._origin_verified(request)

    def _check_referer(self, request):
        if "HTTP_REFERER" not in request.META and _same_origin_by_fetch_metadata(request):
            return
        super()._check_referer(request)


@register(Tags.security, deploy=True)
def check_csrf_middleware(app_configs, **kwargs):
    """Stands in for Django's security.W003, which only knows Django's own
    class: our subclass must be installed."""
    if "core.csrf.CsrfViewMiddleware" not in settings.MIDDLEWARE:
        return [
            Error(
                "core.csrf.CsrfViewMiddleware is not in MIDDLEWARE.",
                hint="Forms and CSRF protection depend on it.",
                id="organizing.E001",
            )
        ]
    return []
