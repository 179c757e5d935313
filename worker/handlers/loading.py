"""The handlers a worker runs with: the built-ins plus the entry points' own.

It lives beside the registry, not in it, so that ``registry`` imports nothing that
registers into it: the built-ins import ``registry``, and this module hands it to them.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from worker.handlers.builtin import register_builtins
from worker.handlers.registry import HandlerRegistry

ENTRY_POINT_GROUP = "shoal.handlers"


def load_handlers() -> HandlerRegistry:
    """The built-in handlers plus every one a deployment registered by entry point."""
    registry = HandlerRegistry()
    register_builtins(registry)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()(registry)
    return registry
