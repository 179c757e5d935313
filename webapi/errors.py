"""One error handler and one error schema: every error is ``{"message", "errors"?}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from shared.errors import ShoalError, TooManyRequests, Unavailable

log = logging.getLogger(__name__)

BODY_TIMEOUT = "The request body did not arrive in time (SHOAL_BODY_TIMEOUT_SECONDS)."
DATABASE_DOWN = "The database is unreachable; the request did nothing, retrying is safe."
DATABASE_BUSY = (
    "The database did not answer in time (a lock held too long, SHOAL_DB_LOCK_TIMEOUT_MS,"
    " or a statement, SHOAL_DB_STATEMENT_TIMEOUT_MS); the request did nothing, retrying is safe."
)
# Seconds a client should wait before trying a 503 again.
RETRY_AFTER_SECONDS = 1
# PostgreSQL's lock_not_available (lock_timeout) and query_canceled (statement_timeout).
_TIMED_OUT = frozenset({"55P03", "57014"})
_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    415: "The request body must be JSON (Content-Type: application/json).",
}


class ErrorSchema(ma.Schema):
    """The body of every error response."""

    message = ma.fields.String(required=True, metadata={"description": "What went wrong"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Validation failures: field name to reasons"},
    )


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; call after the extensions so these replace theirs."""
    app.register_error_handler(ShoalError, _shoal_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(TimeoutError, _body_timeout)
    app.register_error_handler(Exception, _unexpected)


def error_response(
    status: int, message: str, errors: Mapping[str, list[str]] | None = None
) -> Response:
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = status
    return response


def validation_errors(messages: Any) -> dict[str, list[str]]:
    """Flatten webargs/marshmallow messages (by location, nested) to ``{field: [reasons]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping) and set(messages) <= {"json", "query", "view_args", "path"}:
        for per_location in messages.values():
            _flatten(per_location, "", flat)
    else:
        _flatten(messages, "", flat)
    return flat


def validation_message(errors: Mapping[str, list[str]]) -> str:
    if not errors:
        return "The request is invalid."
    field, reasons = next(iter(errors.items()))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Invalid request: {field}: {' '.join(reasons)}{more}"


def _flatten(value: Any, prefix: str, into: dict[str, list[str]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = "body" if key == "_schema" else str(key)
            _flatten(inner, f"{prefix}.{name}" if prefix else name, into)
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        into.setdefault(prefix or "body", []).extend(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _flatten(item, prefix, into)
    else:
        into.setdefault(prefix or "body", []).append(str(value))


def _shoal_error(error: ShoalError) -> Response:
    if error.status >= 500 and not isinstance(error, Unavailable):
        return _unexpected(error)
    response = error_response(error.status, error.message, error.errors)
    if isinstance(error, TooManyRequests) and error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _body_timeout(error: TimeoutError) -> Response:
    """A client that stopped sending its body (the server's read timeout, 408)."""
    response = error_response(408, BODY_TIMEOUT)
    response.headers["Connection"] = "close"  # the rest of that body may still come
    return response


def http_error(error: HTTPException) -> Response:
    """An HTTP error as the API answers it: the error schema, as JSON."""
    if isinstance(error, ClientDisconnected) and isinstance(error.__context__, TimeoutError):
        return _body_timeout(error.__context__)
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if status in (400, 422) and "messages" in data:
        # Validation by webargs (flask-smorest's default status is 422; ours is 400).
        errors = validation_errors(data["messages"])
        return error_response(400, validation_message(errors), errors)
    if status >= 500:
        return _unexpected(error)
    message = data.get("message") or _MESSAGES.get(status) or error.description or error.name
    response = error_response(status, str(message))
    allow = dict(error.get_headers()).get("Allow")
    if allow:
        response.headers["Allow"] = allow
    return response


def is_database_unavailable(error: BaseException) -> bool:
    """Whether a database error means the server is unreachable (as opposed to a bug)."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def is_database_timeout(error: BaseException) -> bool:
    """Whether a statement gave up on a lock or on its running time (the timeouts)."""
    return getattr(getattr(error, "orig", None), "pgcode", None) in _TIMED_OUT


def _database_error(error: SQLAlchemyError) -> Response:
    timed_out = is_database_timeout(error)
    if not timed_out and not is_database_unavailable(error):
        return _unexpected(error)
    log.warning(
        "database %s: %s",
        "timeout" if timed_out else "unavailable",
        str(error).splitlines()[0] if str(error) else type(error).__name__,
        extra={"action": "http.database_unavailable", "path": request.path},
    )
    response = error_response(503, DATABASE_BUSY if timed_out else DATABASE_DOWN)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _unexpected(error: BaseException) -> Response:
    # The traceback goes to the log, never to the client.
    original = getattr(error, "original_exception", None) or error
    log.error(
        "unhandled error on %s %s",
        request.method,
        request.path,
        exc_info=(type(original), original, original.__traceback__),
        extra={"action": "http.internal_error", "path": request.path},
    )
    return error_response(500, "Internal server error")
