"""A job's name and tags: what its submitter calls it and the ``key=value`` labels it
is found by. Both are bounded, so a list filters them from an index."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_NAME = 200
MAX_TAGS = 20
MAX_TAG_VALUE = 200
# A tag's key: short, and without "=" (the CLI writes tags as key=value).
TAG_KEY = re.compile(r"[A-Za-z0-9_.:/-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Labels:
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The statement parameters ``:name`` and ``:tags`` (JSON)."""
        return {"name": self.name, "tags": json.dumps(dict(self.tags), sort_keys=True)}

    def asked(self) -> list[Any]:
        """What an idempotency key compares: the name and the tags."""
        return [self.name, dict(sorted(self.tags.items()))]


NO_LABELS = Labels()


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a job name, or None."""
    if not 1 <= len(name) <= MAX_NAME:
        return f"A name has 1 to {MAX_NAME} characters."
    if _CONTROL.search(name):
        return "A name has no control characters."
    return None


def tags_problem(tags: Mapping[str, Any]) -> str | None:
    """Why ``tags`` are not a job's tags, or None."""
    if len(tags) > MAX_TAGS:
        return f"At most {MAX_TAGS} tags."
    for key, value in tags.items():
        if not TAG_KEY.fullmatch(key):
            return f"Tag {key[:70]!r}: a key is 1 to 64 letters, digits or _ . : / -."
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE or _CONTROL.search(value):
            return f"Tag {key!r}: a value is a string of at most {MAX_TAG_VALUE} characters."
    return None


def tag_filter_problem(text: str) -> str | None:
    """Why ``text`` is not a ``key=value`` tag to filter by, or None."""
    key, equals, value = text.partition("=")
    if not equals:
        return "A tag is key=value."
    return tags_problem({key: value})


def tags_of(given: list[str]) -> dict[str, str]:
    """``["key=value", …]`` (checked by ``tag_filter_problem``) as ``{key: value}``."""
    return dict(text.partition("=")[::2] for text in given)
