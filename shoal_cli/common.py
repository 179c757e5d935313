"""What the client-side commands share: the API client from the environment, and errors
turned into one line on stderr with an exit code (2 for usage and settings, 1 otherwise)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
import httpx
from rich.console import Console

from shared.client import ApiError, ApiUnavailable, ClientSettings, RetryPolicy, ShoalClient
from shared.errors import SettingsError, ShoalError
from shoal_cli.terminal import printable

P = ParamSpec("P")
R = TypeVar("R")

# A person is waiting at the terminal: give up on a dead API within seconds, not a minute.
CLI_RETRY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0, total_seconds=10.0)


class UsageError(ShoalError):
    """The command was used wrongly."""


class Interrupted(ShoalError):
    """Interrupted."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit."""
    click.echo(f"error: {printable(one_line(message), newlines=False)}", err=True)
    sys.exit(code)


def one_line(text: str) -> str:
    return " ".join(text.split())


_INPUT_INDEX = re.compile(r"inputs\[(\d+)\]")


def describe_api_error(error: ApiError) -> str:
    """The API's message, the field errors it does not already say, and the status, on
    one line; a batch's inputs counted from 1 (``input 2``), as the message does."""
    text = error.message.rstrip(".")
    unsaid = [
        f"{_field_name(name)}: {', '.join(reasons)}"
        for name, reasons in (error.errors or {}).items()
        if not all(reason.rstrip(".") in text for reason in reasons)
    ]
    if unsaid:
        text = f"{text} ({'; '.join(unsaid)})"
    return f"{text} [HTTP {error.status}]"


def _field_name(name: str) -> str:
    """``inputs[4].id`` (the API's index, from 0) as ``input 5, id``."""
    found = _INPUT_INDEX.match(name)
    if found is None:
        return name
    rest = name[found.end() :].removeprefix(".")
    return f"input {int(found.group(1)) + 1}" + (f", {rest}" if rest else "")


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn every expected failure into one line on stderr and an exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (SettingsError, UsageError) as error:
            fail(error.message, 2)
        except Interrupted as error:
            fail(error.message, 130)
        except ApiError as error:
            fail(describe_api_error(error))
        except ApiUnavailable as error:
            fail(f"cannot reach the shoal API: {error.message}")
        except ShoalError as error:
            fail(error.message)
        except httpx.InvalidURL as error:
            fail(f"invalid URL: {error}", 2)
        except httpx.HTTPError as error:
            fail(f"{type(error).__name__}: {error}")
        except OSError as error:
            fail(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper


def client_settings(env: Mapping[str, str] | None = None) -> ClientSettings:
    return ClientSettings.from_env(os.environ if env is None else env)


def make_client(settings: ClientSettings | None = None) -> ShoalClient:
    """A client for ``SHOAL_API_URL`` with the environment's credentials and short retries."""
    settings = settings or client_settings()
    # The client logs each retry; a command reports failures itself, in one line.
    logging.getLogger("shared.client").addHandler(logging.NullHandler())
    return ShoalClient.from_settings(settings, retry=CLI_RETRY)


def stderr_console() -> Console:
    """Where live displays go, so stdout stays for results a script may read."""
    return Console(stderr=True, highlight=False)


def stdout_console() -> Console:
    return Console(highlight=False)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))
