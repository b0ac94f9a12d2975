"""One exception type per HTTP error; the API turns them into the JSON envelope in one place."""


class AbacoError(Exception):
    """Base error: carries the HTTP status it means."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequestError(AbacoError):
    status = 400


class UnauthorizedError(AbacoError):
    status = 401


class ForbiddenError(AbacoError):
    status = 403


class NotFoundError(AbacoError):
    status = 404


class MethodNotAllowedError(AbacoError):
    status = 405


class ConflictError(AbacoError):
    status = 409


class PayloadTooLargeError(AbacoError):
    status = 413


class TooManyRequestsError(AbacoError):
    """A quota or a cap ([quotas], synchronous waits) is used up; the message names it."""

    status = 429


class ServiceUnavailableError(AbacoError):
    """A backing service (store, queue) could not be reached; the request wrote nothing."""

    status = 503


class GatewayTimeoutError(AbacoError):
    status = 504
