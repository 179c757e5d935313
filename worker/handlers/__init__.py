"""Job handlers: the registry, the built-ins, and the entry-point group for custom ones."""

from worker.handlers.builtin import register_builtins
from worker.handlers.loading import ENTRY_POINT_GROUP, load_handlers
from worker.handlers.registry import Handler, HandlerRegistry

__all__ = ["ENTRY_POINT_GROUP", "Handler", "HandlerRegistry", "load_handlers", "register_builtins"]
