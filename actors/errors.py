"""One exception type per HTTP error; the API turns them into the JSON envelope in one place.

Each error carries two codes: ``status``, the plain HTTP meaning (``[web] compat = http``),
and ``abaco_status``, the code Abaco answers in the same situation (``compat = abaco``, the
default): Abaco says 400 where HTTP would say 401 (no credentials), 403, 409 or 413. A
raise site may set either for one case (Abaco answers 400 for an unknown execution, 404
for state on a stateless actor). The message is the same in both modes and starts with
Abaco's phrase where Abaco has one.
"""

from __future__ import annotations


class AbacoError(Exception):
    """Base error: carries the HTTP status it means, and Abaco's."""

    status = 500
    abaco_status: int | None = None     # None: the same as status

    def __init__(self, message: str, *, status: int | None = None, abaco_status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if abaco_status is not None:
            self.abaco_status = abaco_status

    def status_for(self, compat: str) -> int:
        """The code to answer with under ``[web] compat``."""
        if compat == "abaco" and self.abaco_status is not None:
            return self.abaco_status
        return self.status


class BadRequestError(AbacoError):
    status = 400


class UnauthorizedError(AbacoError):
    status = 401


class ForbiddenError(AbacoError):
    """The caller may not do this. Abaco answers every "Not authorized" with 400."""

    status = 403
    abaco_status = 400


class NotFoundError(AbacoError):
    status = 404


class MethodNotAllowedError(AbacoError):
    status = 405


class ConflictError(AbacoError):
    """Something of that name exists already (Abaco: 400)."""

    status = 409
    abaco_status = 400


class PayloadTooLargeError(AbacoError):
    """Abaco: 400 "Message exceeds max content length of: N"."""

    status = 413
    abaco_status = 400


class TooManyRequestsError(AbacoError):
    """A quota or a cap ([quotas], synchronous waits) is used up; the message names it."""

    status = 429


class ServiceUnavailableError(AbacoError):
    """A backing service (store, queue) could not be reached; the request wrote nothing."""

    status = 503


class GatewayTimeoutError(AbacoError):
    status = 504
