"""The errors of signing: one family under core.errors.AppError (a code, an
HTTP status, a message), answered as JSON by the API (core.errors)."""

from core.errors import AppError


class SigningError(AppError):
    """An error of signing, answered as JSON by the API (core.errors)."""


class BadRequest(SigningError):
    status, code = 400, "bad_request"


class ProofRejected(SigningError):
    status, code = 403, "forbidden"


class AlreadyIssued(SigningError):
    status, code = 409, "already_issued"


class AlreadySpent(SigningError):
    status, code = 409, "already_spent"


class Conflict(SigningError):
    status, code = 409, "conflict"


class CsrfRefused(SigningError):
    """The account proof, the API's one cookie-authenticated request, failed
    the CSRF check."""

    status, code = 403, "csrf"


class LetterNotOpen(SigningError):
    status, code = 410, "letter_not_open"


class NotFound(SigningError):
    status, code = 404, "not_found"
