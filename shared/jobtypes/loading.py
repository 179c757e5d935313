"""The registry a process runs with: the built-in types plus the entry points' own.

It lives beside the registry, not in it, so that ``registry`` imports nothing that
registers into it: the built-ins import ``registry``, and this module hands them over.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from shared.jobtypes.builtin import BUILTIN_TYPES
from shared.jobtypes.registry import JobTypeRegistry

ENTRY_POINT_GROUP = "shoal.job_types"


def default_registry() -> JobTypeRegistry:
    """The built-in types plus every type a deployment registered by entry point."""
    registry = JobTypeRegistry(BUILTIN_TYPES)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        for spec in entry.load()():
            registry.register(spec)
    return registry
