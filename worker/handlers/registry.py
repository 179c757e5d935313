"""Handlers by job type: an object, not module state; filled by functions.

The built-ins come from :func:`worker.handlers.builtin.register_builtins`; a
deployment adds its own through the ``shoal.handlers`` entry-point group, each
entry a callable that takes the registry (:mod:`worker.handlers.loading` calls both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from worker.context import JobContext

# A handler returns the result payload; None means ``{}``.
Handler = Callable[[JobContext], Mapping[str, Any] | None]
H = TypeVar("H", bound=Handler)


class HandlerRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def handler(self, job_type: str) -> Callable[[H], H]:
        """Decorator: ``@registry.handler("TEST")`` registers the function for that type."""

        def register(function: H) -> H:
            self.register(job_type, function)
            return function

        return register

    def register(self, job_type: str, function: Handler) -> None:
        if job_type in self._handlers:
            raise ValueError(f"a handler for job type {job_type} is registered twice")
        self._handlers[job_type] = function

    def get(self, job_type: str) -> Handler:
        try:
            return self._handlers[job_type]
        except KeyError:
            raise LookupError(f"no handler for job type {job_type}") from None

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._handlers

    def names(self) -> list[str]:
        return sorted(self._handlers)

