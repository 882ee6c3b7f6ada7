"""ASGI entry point: websockets under /ws/ (and HTTP in the embedded mode)."""

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before the routing imports consumers and models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import no_route, websocket_urlpatterns  # noqa: E402
from discussions.fanout import DirectSendMiddleware  # noqa: E402


async def plain_http_refused(scope, receive, send):
    """Plain HTTP at the websocket server (production: gunicorn serves the
    pages): a short answer without Django, so without a database connection
    (settings.ASGI_SERVES_HTTP says why). /healthz answers for load balancers."""
    if scope["path"] == "/healthz":
        status, body, headers = 200, b"ok", []
    else:
        status = 426
        body = b"This server accepts websocket connections only.\n"
        headers = [(b"upgrade", b"websocket"), (b"connection", b"upgrade")]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter(
    {
        # Static files are served asynchronously here (WhiteNoise does it for
        # gunicorn); either way from our own origin, never a CDN.
        "http": (
            ASGIStaticFilesHandler(django_asgi_app)
            if settings.ASGI_SERVES_HTTP
            else plain_http_refused
        ),
        "websocket": DirectSendMiddleware(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, no_route]))
            )
        ),
    }
)

# Everything imported so far lives as long as the process: keep it out of the
# cyclic garbage collector's full passes (which otherwise walk every module,
# model and URL pattern, stalling every socket of the process at once).
import gc  # noqa: E402

gc.freeze()
