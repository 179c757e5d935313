"""Wire schemas of the job-log routes.

A batch's lines are documented as a list of ``LogLineIn`` but checked by ``LogLines``
line by line, without a schema load per line: 1,000 nested loads took about two
thirds of a batch request's time.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from webapi.schemas import Strict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_STREAMS = ("log", "stdout", "stderr")
MAX_LOG_LINES = 1000
MAX_LOG_MESSAGE = 16 * 1024
MAX_LOG_BATCH_BYTES = 1024 * 1024
MAX_SEQ = 2**62
_FIELDS = ("seq", "time", "level", "stream", "message")
_COUNT = ma.validate.Range(min=0, max=2**53)


class LogLineIn(Strict):
    seq = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(0, MAX_SEQ))
    time = ma.fields.DateTime(
        required=True, metadata={"description": "ISO 8601; without a zone it is UTC"}
    )
    level = ma.fields.String(required=True, validate=ma.validate.OneOf(LOG_LEVELS))
    stream = ma.fields.String(required=True, validate=ma.validate.OneOf(LOG_STREAMS))
    message = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=MAX_LOG_MESSAGE),
        metadata={"description": f"At most {MAX_LOG_MESSAGE} characters: truncate before"},
    )


class LogLines(ma.fields.List[dict[str, Any]]):
    """``LogLineIn`` objects, loaded as dicts with ``time`` as UTC text with milliseconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(ma.fields.Nested(LogLineIn), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ma.ValidationError("Not a valid list.")
        lines, errors = [], {}
        for index, item in enumerate(value):
            problems: dict[str, list[str]] = {}
            lines.append(_line(item, problems))
            if problems:
                errors[index] = problems
        if errors:
            raise ma.ValidationError(errors)
        return lines


def _line(item: Any, problems: dict[str, list[str]]) -> dict[str, Any]:
    """One line, loaded as ``LogLineIn`` would; what is wrong goes into ``problems``."""
    if not isinstance(item, Mapping):
        problems["_schema"] = ["Invalid input type."]
        return {}
    for key in item.keys() - set(_FIELDS):
        problems[str(key)] = ["Unknown field."]
    for key in _FIELDS:
        if key not in item:
            problems[key] = ["Missing data for required field."]
    if problems:
        return {}
    seq, time, level, stream, message = (item[key] for key in _FIELDS)
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        problems["seq"] = [f"Must be a whole number from 0 to {MAX_SEQ}."]
    when = utc_millis(time)
    if when is None:
        problems["time"] = ["Not a valid ISO 8601 datetime."]
    if not isinstance(level, str) or level not in LOG_LEVELS:
        problems["level"] = [f"Must be one of: {', '.join(LOG_LEVELS)}."]
    if not isinstance(stream, str) or stream not in LOG_STREAMS:
        problems["stream"] = [f"Must be one of: {', '.join(LOG_STREAMS)}."]
    if not isinstance(message, str) or len(message) > MAX_LOG_MESSAGE:
        problems["message"] = [f"Must be text of at most {MAX_LOG_MESSAGE} characters."]
    return {"seq": seq, "time": when, "level": level, "stream": stream, "message": message}


def utc_millis(value: Any) -> str | None:
    """ISO 8601 text as UTC with milliseconds and ``Z`` (no zone: UTC); None if it is not."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        text = parsed.astimezone(UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError):
        return None
    return text.replace("+00:00", "Z")


class DroppedIn(Strict):
    lines = ma.fields.Integer(required=True, strict=True, validate=_COUNT)
    bytes_ = ma.fields.Integer(required=True, strict=True, validate=_COUNT, data_key="bytes")


class LogsBody(Strict):
    lines = LogLines(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_LOG_LINES),
        metadata={"description": "In increasing seq order (seq counts per attempt, from 0)"},
    )
    dropped = ma.fields.Nested(
        DroppedIn,
        metadata={"description": "What the worker dropped since its last batch (not shipped)"},
    )

    @ma.validates_schema
    def _ordered_and_small(self, data: dict[str, Any], **kwargs: Any) -> None:
        seqs = [line["seq"] for line in data["lines"]]
        if any(a >= b for a, b in itertools.pairwise(seqs)):
            raise ma.ValidationError("seq must increase from line to line", "lines")
        size = sum(len(line["message"].encode()) for line in data["lines"])
        if size > MAX_LOG_BATCH_BYTES:
            raise ma.ValidationError(
                f"the messages hold {size} bytes, more than {MAX_LOG_BATCH_BYTES} in one batch",
                "lines",
            )


class LogsStored(ma.Schema):
    stored = ma.fields.Integer(metadata={"description": "Lines stored (0: a retried batch)"})
    cut = ma.fields.Boolean(
        metadata={"description": "The attempt's log went over its limit: its oldest lines are cut"}
    )


class LogsQuery(Strict):
    attempt = ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1))
    after = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "The `next` of the page before (or its X-Next-Cursor header)"},
    )
    limit = ma.fields.Integer(load_default=1000, validate=ma.validate.Range(min=1, max=10_000))
    format = ma.fields.String(
        load_default="json", validate=ma.validate.OneOf(("json", "jsonl", "text"))
    )


class LogLineOut(ma.Schema):
    attempt = ma.fields.Integer()
    seq = ma.fields.Integer()
    time = ma.fields.String()
    level = ma.fields.String()
    stream = ma.fields.String(
        metadata={"description": "log, stdout, stderr; `shoal` for a marker of cut lines"}
    )
    message = ma.fields.String()


class LogsPage(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(LogLineOut))
    next = ma.fields.String(allow_none=True)
