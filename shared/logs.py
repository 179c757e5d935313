"""Structured logging: one ``configure_logging()`` per process, JSON lines to stderr.

Every record becomes one JSON object with its time, level, logger and message, plus
whatever the call passed in ``extra`` (``action``, ``job_id``, ...), so logs can be
queried by field instead of parsed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class BoundLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that adds fixed fields (``job_id``, ...) to each record's own ``extra``.

    The standard adapter replaces a call's ``extra`` with its own; this one merges them.
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class _ShoalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler this module installed, so a second call replaces it."""


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as a JSON line; safe to call again."""
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, _ShoalHandler)]:
        root.removeHandler(existing)
    handler = _ShoalHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # One line per HTTP request from the clients' libraries drowns the useful lines.
    for name in ("httpx", "httpcore", "botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
