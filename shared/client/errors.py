"""What the client raises: the API's own answer, or that the API could not be reached."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.errors import ShoalError


class ApiError(ShoalError):
    """The shoal API refused the request."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(message, errors=errors)
        self.status = status

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


class ApiUnavailable(ShoalError):
    """The shoal API could not be reached; retries ran out."""

    status = 503
