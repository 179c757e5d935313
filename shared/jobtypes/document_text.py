"""A type document's text (YAML or JSON) as the JSON value it stands for.

The CLI reads type files with it and the dashboard its type form. YAML is read as
JSON would see it: a date stays a string, and a value JSON cannot hold (a binary, a
set, NaN) is refused, so what is checked is exactly what is sent. libyaml's parser
when the build has it (YAML's constructor is Python still: about 0.4 ms per KiB).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _JsonLikeLoader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader without YAML's implicit timestamps (JSON has none)."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document_text(text: str, *, json_only: bool = False) -> Any:
    """The value of ``text`` (YAML, or JSON alone when ``json_only``); ``ValueError``
    saying, in one line, why it is not one. Text that is JSON is read as JSON: the same
    value, a hundred times faster than YAML's constructor builds it."""
    try:
        loaded = _load(text, json_only=json_only)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    try:  # what JSON can hold, as JSON holds it (keys as strings)
        return json.loads(json.dumps(loaded, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"holds a value JSON cannot: {error}") from None


def _load(text: str, *, json_only: bool) -> Any:
    if json_only or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as error:
            if json_only:
                raise ValueError(f"not valid JSON: {error}") from None
    try:
        return yaml.load(text, Loader=_JsonLikeLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        raise ValueError(f"not valid YAML: {' '.join(str(error).split())}") from None
