"""What the ``shoal`` commands print of the server's text, made safe for a terminal.

Log lines, progress messages, errors, file and worker names come from the API, and
through the shared result cache from whoever ran the job, not only from the caller.
A terminal acts on control characters (``ESC [2J`` clears it, OSC sets its title or
hides a link, CR and backspace overwrite what was shown), so every one of them is
printed as ``\\xNN`` instead, except tab and, where the output has room for several
lines, newline. Only raw JSON (``--json``, ``--format jsonl``) is printed as sent:
JSON escapes these characters itself.
"""

from __future__ import annotations

import re

import click
from rich.markup import escape

# C0 but tab and newline, DEL, and C1 (where ESC sequences have one-character forms).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(value: object, *, newlines: bool = True) -> str:
    """``value`` as text whose control characters show as ``\\xNN`` (newlines too unless
    ``newlines``)."""
    pattern = _CONTROL if newlines else _CONTROL_OR_NEWLINE
    return pattern.sub(lambda found: f"\\x{ord(found.group()):02x}", str(value))


def echo(text: str, *, err: bool = False) -> None:
    """Print a line that may hold the server's text."""
    click.echo(printable(text), err=err)


def markup(value: object) -> str:
    """The server's text for a rich table or progress bar: printable, and never markup."""
    return escape(printable(value))
