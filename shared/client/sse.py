"""A parser for ``text/event-stream`` (the subset shoal's events route speaks)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: Any
    id: str | None = None


def parse_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from the stream's lines (without line endings), per the WHATWG rules.

    ``data`` is the parsed JSON when the data lines hold JSON, else the raw text.
    Comments (lines starting with ``:``) and events without data are skipped.
    """
    name, event_id = "", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(name or "message", _decode("\n".join(data)), event_id)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    # An event cut off before its blank line is discarded, as the standard says.


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
