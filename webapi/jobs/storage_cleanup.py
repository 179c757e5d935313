"""Result files of deleted jobs: deleted in the background, retried; their links refused.

The database queues a ``storage_deletions`` row for every job assignment that is
deleted (a trigger, in the deleting transaction: deleting a user, pruning, any
cascade). Each API process takes due rows in small batches, holding them by moving
``not_before`` ahead (so no transaction stays open while S3 answers), deletes the
files under each URI and drops the row; a failure is kept with its error and taken
again after a back-off that doubles up to a day. Nothing here blocks a request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.storage import ResultStorage, StorageSettings, storage_for_uri
from webapi.background import ProcessThread
from webapi.store import storage_deletions
from webapi.store.queue_reads import MAX_ID

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 86400
# A taken row is held this long: a process that dies mid-batch leaves it to another.
HOLD_SECONDS = 600


@dataclass(frozen=True)
class Swept:
    deleted: int = 0
    failed: int = 0


class StorageCleanup:
    def __init__(
        self,
        engine: Engine,
        storage_for: Callable[[str], ResultStorage],
        *,
        every_seconds: float,
        retry_seconds: float,
        batch: int = 20,
    ) -> None:
        self.engine = engine
        self.storage_for = storage_for
        self.every_seconds = every_seconds
        self.retry_seconds = retry_seconds
        self.batch = batch
        self._thread = ProcessThread("storage-cleanup", self._run)

    def ensure_started(self) -> None:
        self._thread.ensure_started()

    def stop(self) -> None:
        self._thread.stop()

    def run_once(self) -> Swept:
        """Delete the files of one batch of due rows."""
        taken = storage_deletions.take_due(self.engine, hold_seconds=HOLD_SECONDS, batch=self.batch)
        deleted = failed = 0
        for due in taken:
            uri = due.storage_uri
            try:
                files = self.storage_for(uri).delete_tree(uri)
            except Exception as error:  # any backend's failure: keep the row, retry later
                failed += 1
                self._failed(due, error)
                continue
            storage_deletions.done(self.engine, due.id)
            deleted += 1
            log.info(
                "deleted stored files",
                extra={"action": "storage.deleted", "storage_uri": uri, "files": files},
            )
        return Swept(deleted, failed)

    def _failed(self, due: storage_deletions.Due, error: Exception) -> None:
        backoff = min(MAX_BACKOFF_SECONDS, self.retry_seconds * 2 ** min(due.attempts - 1, 30))
        message = f"{type(error).__name__}: {error}"[:2000]
        storage_deletions.failed(self.engine, due.id, backoff_seconds=backoff, error=message)
        log.warning(
            "stored files not deleted; will retry",
            extra={
                "action": "storage.delete_failed",
                "storage_uri": due.storage_uri,
                "attempts": due.attempts,
                "retry_in_seconds": backoff,
                "error": message,
            },
        )

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.every_seconds):
            try:
                swept = self.run_once()
                while swept.deleted + swept.failed >= self.batch and not stopping.is_set():
                    swept = self.run_once()  # a full batch: more may be due at once
            except SQLAlchemyError as error:
                log.warning(
                    "storage cleanup skipped: %s",
                    type(error).__name__,
                    extra={"action": "storage.cleanup_failed"},
                )


def storage_resolver(
    storage: ResultStorage, settings: StorageSettings
) -> Callable[[str], ResultStorage]:
    """The configured store for its own URIs; for others (written under an earlier
    configuration) a store built from the URI, with this process's S3 endpoint."""
    base = storage.base_uri().rstrip("/") + "/"
    env = {
        name: value
        for name, value in [
            ("AWS_REGION", settings.aws_region),
            ("SHOAL_S3_ENDPOINT_URL", settings.s3_endpoint_url),
        ]
        if value
    }
    return lambda uri: storage if uri.startswith(base) else storage_for_uri(uri, env)


def belongs_to_live_job(engine: Engine, base_uri: str, relative_path: str) -> bool:
    """Whether a stored file (path under the store's root) lies in a live job's attempt.

    Files are stored under ``<type>/<job id>/attempt-<n>/``; once the job is deleted
    its link must stop working at once, before the cleanup has removed the files.
    """
    parts = PurePosixPath(relative_path).parts
    if len(parts) < 4 or not _is_id(parts[1]):
        return False
    attempt_uri = "/".join([base_uri.rstrip("/"), *parts[:3]])
    return storage_deletions.attempt_exists(engine, int(parts[1]), attempt_uri)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ID
