"""Statements parsed once: ``text()`` re-scans its SQL for bind parameters on every
call, which on the queue's hot path costs more than SQLAlchemy's whole cache lookup."""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause
from sqlalchemy import text as _sa_text


@cache
def text(statement: str) -> TextClause:
    """The (immutable, shareable) clause of a fixed statement."""
    return _sa_text(statement)
