"""One exception root for shoal; each subclass's docstring is its default message.

Every error that reaches a user maps to an HTTP status through ``status``; the web
API's single error handler turns any of them into ``{"message": ..., "errors": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class ShoalError(Exception):
    """Something went wrong."""

    status = 500

    def __init__(
        self, message: str | None = None, *, errors: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.errors = {key: list(value) for key, value in (errors or {}).items()}
        super().__init__(self.message)


class InvalidInput(ShoalError):
    """The request is invalid."""

    status = 400


class IllegalState(ShoalError):
    """That change is not allowed in the resource's current state."""

    status = 400


class Unauthorized(ShoalError):
    """Authentication is required."""

    status = 401


class Forbidden(ShoalError):
    """You are not allowed to do that."""

    status = 403


class NotFound(ShoalError):
    """Not found."""

    status = 404


class Conflict(ShoalError):
    """That conflicts with an earlier request."""

    status = 409


class Gone(ShoalError):
    """That resource was deleted."""

    status = 410


class TooLarge(ShoalError):
    """The request body is too large."""

    status = 413


class TooManyRequests(ShoalError):
    """Too many attempts; try again later."""

    status = 429

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, for the Retry-After header


class Unavailable(ShoalError):
    """The service is temporarily unavailable; retrying is safe."""

    status = 503


class SettingsError(ShoalError):
    """A setting is missing or invalid."""
