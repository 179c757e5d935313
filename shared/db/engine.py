"""Engines for the web API's database: URL normalisation and pool settings."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine


def normalize_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and pin the psycopg2 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    """An engine that survives database restarts: connections are checked before use."""
    return create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "shoal"},
    )
