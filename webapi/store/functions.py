"""Where the current definition of the database's functions and triggers lives."""

from __future__ import annotations

from pathlib import Path

# Each function and the trigger that runs it, as the migrations left them.
FUNCTIONS_SQL = Path(__file__).with_name("functions.sql")
