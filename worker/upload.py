"""Storing a job's output directory, tried again with backoff while storage may recover.

A store that fails for a while (a throttled bucket, an S3 outage, a full or unwritable
disk) must not fail a job whose handler did its work. Errors the store calls transient
are tried again, with exponential backoff and jitter, for up to ``retry_seconds`` (the
heartbeat keeps the lease meanwhile), and never past the attempt's run-time limit. What
still fails is handed back by the caller as a failed attempt: the job runs again while
attempts remain.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.storage import ResultStorage

FIRST_PAUSE = 0.5
MAX_PAUSE = 8.0
# The hand-back must reach the API before the run-time limit ends the attempt.
DEADLINE_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class Upload:
    storage_for: Callable[[str], ResultStorage]
    retry_seconds: float
    stop: threading.Event  # set when the job must stop: the retries end at once
    logger: logging.LoggerAdapter[logging.Logger]
    note: Callable[[str, str], None]  # (level, message) into the attempt's own log

    def run(self, output_dir: Path, uri: str, deadline_at: datetime | None) -> str | None:
        """Store ``output_dir`` at ``uri``: None once stored (or when stopped meanwhile),
        else why it could not be."""
        until = time.monotonic() + self.retry_seconds
        if deadline_at is not None:
            left = (deadline_at - datetime.now(UTC)).total_seconds()
            until = min(until, time.monotonic() + left - DEADLINE_MARGIN_SECONDS)
        try:
            storage = self.storage_for(uri)
        except Exception as error:  # a URI no store takes: trying again cannot help
            return self._gave_up(error, 1, uri, transient=False)
        tries = 0
        while True:
            tries += 1
            try:
                files = storage.upload_dir(output_dir, uri)
            except Exception as error:
                transient = storage.is_transient(error)
                pause = _pause(tries)
                if not transient or time.monotonic() + pause > until:
                    return self._gave_up(error, tries, uri, transient)
                self._retrying(error, tries, pause, uri)
                if self.stop.wait(pause):
                    return None
                continue
            self.logger.info(
                "results uploaded",
                extra={"action": "uploaded", "uri": uri, "files": len(files), "tries": tries},
            )
            return None

    def _retrying(self, error: Exception, tries: int, pause: float, uri: str) -> None:
        self.logger.warning(
            "upload failed, trying again in %.1f s: %s",
            pause,
            error,
            extra={"action": "upload_retry", "uri": uri, "tries": tries},
        )
        self.note("WARNING", f"storing the results failed (try {tries}), trying again: {error}")

    def _gave_up(self, error: Exception, tries: int, uri: str, transient: bool) -> str:
        counted = f"{tries} {'try' if tries == 1 else 'tries'}"
        why = "still failing" if transient else "not a passing error"
        self.logger.error(
            "upload failed (%s, %s): %s",
            counted,
            why,
            error,
            extra={"action": "upload_failed", "uri": uri, "tries": tries},
        )
        message = f"Storing the results failed ({counted}): {error}"
        self.note("ERROR", f"{message}; the attempt is handed back")
        return message


def _pause(tries: int) -> float:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4, 8, 8 ... seconds."""
    ceiling = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (tries - 1))
    return random.uniform(ceiling / 2, ceiling)
