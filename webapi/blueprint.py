"""The blueprint every area of the API uses: flask-smorest's, with shoal's request parsing.

Validation failures answer 400 (webargs' default is 422), a body that is not JSON
answers 415, and both are documented that way in OpenAPI.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable, Mapping
from copy import deepcopy
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

import flask
import flask_smorest
import marshmallow as ma
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")

# The security requirement of every authenticated route: either scheme will do.
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]
UNSTORABLE = "Must be text without NUL characters or unpaired surrogates."
TOO_MANY_DIGITS = "an integer has more digits than this API accepts"
NESTED_TOO_DEEPLY = "nested too deeply"
_NAMED_REASONS = {TOO_MANY_DIGITS, NESTED_TOO_DEEPLY}


class ShoalParser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            if req.get_data(cache=True):
                raise UnsupportedMediaType()
            return core.missing
        data = req.get_data(cache=True)
        refuse_cut_off(req, data)
        try:
            return core.parse_json(data)
        except RecursionError:
            # Python's parser recurses once per level: a body nested this deep is not data.
            raise json.JSONDecodeError(NESTED_TOO_DEEPLY, "-", 0) from None
        except json.JSONDecodeError:
            raise
        except ValueError:
            # An integer literal longer than Python converts (4,300 digits): not a JSON
            # error to the parser, but no number any route could store either.
            raise json.JSONDecodeError(TOO_MANY_DIGITS, "-", 0) from None

    def _handle_invalid_json_error(
        self,
        error: json.JSONDecodeError | UnicodeDecodeError,
        req: flask.Request,
        *args: Any,
        **kwargs: Any,
    ) -> NoReturn:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else None
        named = reason in _NAMED_REASONS
        detail = f"Invalid JSON body: {reason}." if named else "Invalid JSON body."
        abort(400, exc=error, messages={"json": [detail]})

    def pre_load(
        self, location_data: Any, *, schema: ma.Schema, req: flask.Request, location: str
    ) -> Any:
        # PostgreSQL stores neither NUL nor unpaired surrogates in text or jsonb: refuse
        # them here, once for every route, instead of failing in the database.
        errors = unstorable_fields(location_data)
        if errors:
            raise ma.ValidationError(errors)
        return location_data


def refuse_cut_off(req: flask.Request, data: bytes) -> None:
    """413 for a body without Content-Length (chunked) that goes on past the limit.

    Werkzeug stops reading such a body at ``max_content_length`` without a word, so
    what was read looks whole; one more byte from the server's stream tells.
    """
    limit = req.max_content_length
    cut_off = req.content_length is None and limit is not None and len(data) >= limit
    if cut_off and req.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()


def unstorable_fields(value: Any) -> dict[str, list[str]]:
    """Every field (or key) of a parsed body whose text PostgreSQL cannot store."""
    errors: dict[str, list[str]] = {}
    _find_unstorable(value, "", errors)
    return errors


def _find_unstorable(value: Any, path: str, into: dict[str, list[str]]) -> None:
    """Name every field (or key) in ``value`` whose text PostgreSQL cannot store."""
    if isinstance(value, str):
        if not _storable(value):
            into[path or "body"] = [UNSTORABLE]
    elif isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and not _storable(key):
                into[path or "body"] = [UNSTORABLE]  # a bad key: not echoed back
            else:
                _find_unstorable(value[key], f"{path}.{key}" if path else str(key), into)
    elif isinstance(value, list | tuple):
        for item in value:
            _find_unstorable(item, path, into)


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")  # fails on an unpaired surrogate
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest has no types
    """flask-smorest's blueprint with shoal's parser and typed decorators."""

    ARGUMENTS_PARSER = ShoalParser()

    def route(self, rule: str, **options: Any) -> Callable[[V], V]:
        return cast(Callable[[V], V], super().route(rule, **options))

    def arguments(self, schema: Any, **kwargs: Any) -> Callable[[F], F]:
        # One instance for every request: given a class, webargs would build one per
        # request, and marshmallow deep-copies every field (and nested schema) to do so.
        schema = schema() if isinstance(schema, type) else schema
        return cast(Callable[[F], F], super().arguments(schema, **kwargs))

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().response(status_code, schema, **kwargs))

    def alt_response(self, status_code: int, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().alt_response(status_code, **kwargs))

    def doc(self, **kwargs: Any) -> Callable[[F], F]:
        return cast(Callable[[F], F], super().doc(**kwargs))

    @staticmethod
    def errors(*codes: int) -> Callable[[F], F]:
        """Document the error responses a view can give (all with the error schema)."""

        def decorator(view: F) -> F:
            return document(view, codes=codes)

        return decorator


def document(
    view: F, *, codes: tuple[int, ...] = (), security: list[dict[str, list[str]]] | None = None
) -> F:
    """A wrapper of ``view`` whose OpenAPI doc also lists ``codes`` and ``security``."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    apidoc: dict[str, Any] = deepcopy(getattr(view, "_apidoc", {}))
    responses = apidoc.setdefault("response", {}).setdefault("responses", {})
    for code in codes:
        responses.setdefault(code, []).append(http.HTTPStatus(code).name)
    if security is not None:
        apidoc.setdefault("manual_doc", {})["security"] = security
    wrapper._apidoc = apidoc  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
