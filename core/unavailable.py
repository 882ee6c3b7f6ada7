"""When Redis (cache, channel layer, Celery broker) is unreachable.

Redis is never the source of truth here: code that can do without it falls
back (rate limits whose guarantee is a database constraint, the cached public
figures), and everything that truly needs it lets the connection error rise.
ServiceUnavailableMiddleware turns those errors, and ServiceUnavailable
raised by code with a more precise message, into one answer: 503 with
Retry-After, JSON under /api/, a page for people. Which use does what is
written down in docs/operations.md, "When Redis is down".
"""

from __future__ import annotations

import logging

import kombu.exceptions
import redis.exceptions
from django.utils.translation import gettext as _

from core.errors import AppError, error_response

logger = logging.getLogger(__name__)

# Redis restarts or fails over in seconds to a minute.
RETRY_AFTER_SECONDS = 30

# Redis did not answer (refused, timed out, or still loading its data).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Celery could not hand a task to the broker.
BROKER_DOWN = (kombu.exceptions.OperationalError,)


class ServiceUnavailable(AppError):
    """A request needs a service that is unreachable for the moment."""

    status, code = 503, "unavailable"

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or _(
                "This part of the service is unavailable for a moment. "
                "Please try again in a minute."
            )
        )


def unavailable_response(request, message: str):
    response = error_response(request, ServiceUnavailable(message))
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    """Last in MIDDLEWARE, so the 503 still passes through every other
    middleware (security headers, CSP, sessions)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ServiceUnavailable):
            message = exception.message
        elif isinstance(exception, REDIS_DOWN + BROKER_DOWN):
            message = ServiceUnavailable().message
        else:
            return None
        # No traceback: the cause is outside the application, and one line
        # per refused request says enough.
        logger.warning("Answered 503 (%s): %s", type(exception).__name__, exception)
        return unavailable_response(request, message)
