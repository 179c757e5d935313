"""The worker loop: long-poll for jobs, run up to ``concurrency`` at once, stop cleanly.

- Claims come from one claimer thread that long-polls (``waitSeconds``) only while a
  slot is free; an unreachable API makes it back off, a refusal (401/403/400) ends
  the worker with exit code 1.
- Idle timeout: with no job for that long the worker exits 0 (the fleet's way to
  scale to zero).
- SIGTERM/SIGINT: claiming stops at once; running jobs get the grace period to
  finish, then are cancelled and their assignments released so they are requeued
  at once; exit 0. A second signal cuts the grace period short. An idle worker
  exits at once. Whatever stops the worker, a long poll in flight is cut off: its
  connection closes, so the API hands its job to no one (a job that was already on
  its way is handed back while the process lives).
- Orphaned: a worker started by ``shoal dev``'s manager (``SHOAL_ANCESTOR_PIDS``) whose
  manager or ``shoal dev`` is gone stops at once, without the grace period: its jobs
  are handed back if the API answers, and results are no longer retried, so nothing
  it started outlives ``shoal dev``.
- Run-time limit: a job is cancelled at its assignment's ``deadline_at``; a handler
  that ignores a cancellation for ``cancel_grace_seconds`` (a command: beyond its stop
  grace) ends the worker (exit 4, the other jobs handed back) so that the hung thread
  stops with the process. No command's process group outlives the worker's exit.
- Work directory: each worker process makes its own directory under ``work_dir``
  (``worker-<pid>-<random>``) and removes it when it exits, so workers of several
  platforms on one machine, whose assignment ids repeat, never share a job's folder.
- Exit codes (``WorkerExit``): 2 and 3 mean the worker never came up (bad settings;
  refused or crashed before the API first answered a claim), which the manager
  backs off from; anything after that is a worker that ran, replaced at once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from shared.client import ApiError, ApiUnavailable, Claim, ShoalClient, claim_body
from shared.enums import WorkerExit
from shared.errors import SettingsError
from shared.jobtypes import JobTypeRegistry
from shared.lifetime import orphaned
from shared.storage import ResultStorage, storage_for_uri
from shared.storage.base import s3_uri_parts
from worker.capture import OutputCapture
from worker.command_runner import CommandRunner
from worker.handlers import HandlerRegistry
from worker.identity import TaskIdentity
from worker.job import JobRun, JobTools
from worker.reporter import ResultReporter
from worker.runspec import RunSpecs, RunSpecSource
from worker.settings import WorkerSettings

log = logging.getLogger("worker.runtime")
MAX_BACKOFF = 30.0
# After the grace period, how long cancelled handlers get to notice and clean up.
CLEANUP_SECONDS = 2.0
# How long a stopping worker waits for a long poll in flight before it exits anyway.
CLAIM_ABANDON_SECONDS = 0.2
# How often a worker checks that the shoal processes that started it still run.
LINEAGE_CHECK_SECONDS = 0.5


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        client: ShoalClient,
        identity: TaskIdentity,
        specs: JobTypeRegistry,
        handlers: HandlerRegistry,
        capture: OutputCapture | None = None,
        run_specs: RunSpecSource | None = None,
    ) -> None:
        # A type known here must have its handler; any other is a registered type,
        # run by its command (the API refuses a type it does not know either).
        missing = [name for name in settings.job_types if name in specs and name not in handlers]
        if missing:
            raise SettingsError(f"SHOAL_JOB_TYPES: no handler for job type(s) {', '.join(missing)}")
        self.settings = settings
        self.client = client
        self.identity = identity
        self.tools = JobTools(
            client=client,
            specs=specs,
            handlers=handlers,
            storage_for=self._storage_for,
            work_dir=settings.work_dir,
            heartbeat_seconds=settings.heartbeat_seconds,
            capture=capture or OutputCapture(),
            log_buffer_bytes=settings.log_buffer_bytes,
            log_interval_seconds=settings.log_interval_seconds,
            log_flush_seconds=settings.log_flush_seconds,
            upload_retry_seconds=settings.upload_retry_seconds,
            commands=CommandRunner(run_specs or RunSpecs(client), os.environ),
            reporter=ResultReporter(
                client,
                # With one slot no other job can finish meanwhile: nothing to wait for.
                window=settings.result_window_seconds if settings.concurrency > 1 else 0.0,
                next_claim=self._next_claim,
                take_claims=self._take_next,
            ),
        )
        self.exit_code = 0
        self._stop = threading.Event()
        self._signals = 0
        self._reason = ""
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[JobRun, threading.Thread]] = {}
        # Finished runs whose slot a claim that came with their result took over.
        self._passed: set[int] = set()
        self._last_active = time.monotonic()
        self._reached_api = False
        self._lineage_checked = 0.0
        self._s3: dict[str, ResultStorage] = {}
        # Daemon: a long poll still in flight at exit must not keep the process alive.
        self.claimer = threading.Thread(target=self._claim_loop, name="claimer", daemon=True)

    # -- lifecycle -----------------------------------------------------------
    def run(self, *, install_signals: bool = True) -> int:
        """Work until idle, a signal, or a fatal refusal; returns the exit code."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        own_dir = self._make_work_dir()
        try:
            log.info(
                "worker started",
                extra={
                    "action": "worker_started",
                    "task_arn": self.identity.task_arn,
                    "cluster_arn": self.identity.cluster_arn,
                    "job_types": list(self.settings.job_types),
                    "concurrency": self.settings.concurrency,
                    "work_dir": str(own_dir),
                },
            )
            self.claimer.start()
            while not self._stop.wait(0.1):
                if self._signals:
                    self.stop("signal")
                self._orphaned()
                self._watch_runs()
            return self._shutdown(self.claimer)
        finally:
            shutil.rmtree(own_dir, ignore_errors=True)

    def _make_work_dir(self) -> Path:
        """This process's own directory under ``work_dir``, for its jobs' folders."""
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        own = tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=self.settings.work_dir)
        self.tools = dataclasses.replace(self.tools, work_dir=Path(own))
        return Path(own)

    def stop(self, reason: str, exit_code: int = 0) -> None:
        """Stop claiming and begin the shutdown; the first reason is the one logged."""
        with self._lock:
            if not self._reason:
                self._reason, self.exit_code = reason, exit_code
        self._stop.set()
        self.client.abort_long_polls()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only a counter: the main loop does the rest outside the signal handler.
        self._signals += 1

    def _orphaned(self) -> bool:
        """Whether the processes that started this worker are gone (looked at every
        ``LINEAGE_CHECK_SECONDS``); the first time, the worker begins to exit at once."""
        if self.tools.exiting.is_set():
            return True
        now = time.monotonic()
        if now < self._lineage_checked + LINEAGE_CHECK_SECONDS:
            return False
        self._lineage_checked = now
        if not orphaned(self.settings.env):
            return False
        log.warning(
            "the process that started this worker is gone; exiting now",
            extra={"action": "orphaned"},
        )
        self.tools.exiting.set()
        self.stop("orphaned")
        return True

    def _watch_runs(self) -> None:
        """Enforce run-time limits; a handler that ignores its cancellation ends the worker."""
        for run, thread in self._snapshot():
            run.enforce_deadline()
            ignored = run.ignored_cancellation_for()
            if thread.is_alive() and ignored > self.settings.cancel_grace_seconds:
                run.log.error(
                    "handler ignored its cancellation for %.1f s; the worker exits to stop it",
                    ignored,
                    extra={"action": "handler_stuck"},
                )
                self.stop("handler stuck", exit_code=WorkerExit.HANDLER_STUCK)

    def _shutdown(self, claimer: threading.Thread) -> int:
        grace = self.settings.grace_seconds if self._reason == "signal" else 0.0
        log.info(
            "worker stopping",
            extra={"action": "worker_stopping", "reason": self._reason, "running": len(self._runs)},
        )
        deadline = time.monotonic() + grace
        self._wait_for_jobs(deadline)
        leftovers = self._snapshot()
        for run, _ in leftovers:
            run.abandon()
        # A command gets its stop grace before it is killed; the threads stop together.
        stop_grace = max((run.stop_grace for run, _ in leftovers), default=0.0)
        cleaned_up = time.monotonic() + CLEANUP_SECONDS + stop_grace
        for _, thread in leftovers:
            thread.join(max(0.0, cleaned_up - time.monotonic()))
        if self.tools.commands is not None and self.tools.commands.groups.kill_all():
            log.warning("commands killed at exit", extra={"action": "commands_killed"})
        # A long poll in flight holds no job: the process does not wait for it.
        claimer.join(min(CLAIM_ABANDON_SECONDS, max(0.0, deadline - time.monotonic())))
        if claimer.is_alive():
            log.warning("exiting with a claim in flight", extra={"action": "claim_abandoned"})
        log.info("worker stopped", extra={"action": "worker_stopped", "exit_code": self.exit_code})
        return self.exit_code

    def _wait_for_jobs(self, deadline: float) -> None:
        signals_at_start = self._signals
        while any(thread.is_alive() for _, thread in self._snapshot()):
            if time.monotonic() >= deadline or self._signals > signals_at_start:
                return
            if self._orphaned():
                return
            time.sleep(0.05)

    def _snapshot(self) -> list[tuple[JobRun, threading.Thread]]:
        with self._lock:
            return list(self._runs.values())

    # -- claiming ------------------------------------------------------------
    def _claim_loop(self) -> None:
        try:
            self._claim_until_stopped()
        except Exception:
            if self._stop.is_set():
                return  # the process is exiting under a long poll: nothing was lost
            log.exception("claim loop crashed", extra={"action": "claimer_crashed"})
            self.stop("crash", exit_code=self._failure_code())

    def _claim_until_stopped(self) -> None:
        failures = 0
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            free = 1 + self._take_free_slots()
            try:
                claims = self._claim_once(free)
            except ApiUnavailable as error:
                self._give_back_slots(free)
                if self._stop.is_set():
                    return  # the stop cut the long poll off
                failures += 1
                self._back_off(failures, str(error))
                continue
            except ApiError as error:
                self._give_back_slots(free)
                if error.status == 429:
                    failures += 1
                    self._back_off(failures, str(error))
                    continue
                log.error("claim refused: %s", error, extra={"action": "claim_refused"})
                self.stop("refused", exit_code=self._failure_code())
                return
            failures = 0
            self._mark_reached()
            self._give_back_slots(free - len(claims))
            for claim in claims:
                if self._stop.is_set():
                    self._hand_back(claim)
                else:
                    self._start(claim)

    def _take_free_slots(self) -> int:
        """Every other free slot, taken at once: one claim request fills them all."""
        taken = 0
        while self._slots.acquire(blocking=False):
            taken += 1
        return taken

    def _give_back_slots(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _failure_code(self) -> int:
        return WorkerExit.ERROR if self._reached_api else WorkerExit.START_FAILED

    def _mark_reached(self) -> None:
        """The API answered a claim: the worker is up (and says so in its ready file)."""
        if self._reached_api:
            return
        self._reached_api = True
        if self.settings.ready_file is not None:
            try:
                self.settings.ready_file.touch()
            except OSError as error:
                log.warning("cannot write the ready file: %s", error, extra={"action": "ready"})

    def _claim_once(self, max_jobs: int) -> list[Claim]:
        # The first claim does not wait: it proves quickly that the API takes this worker.
        wait = float(self.settings.claim_wait_seconds) if self._reached_api else 0.0
        if self.settings.idle_timeout > 0 and not self._snapshot():
            left = self._last_active + self.settings.idle_timeout - time.monotonic()
            if left <= 0:
                self.stop("idle")
                return []
            wait = min(wait, left)
        return self.client.claim_many(
            self.settings.job_types,
            task_arn=self.identity.task_arn,
            cluster_arn=self.identity.cluster_arn,
            wait_seconds=wait,
            max_jobs=max_jobs,
        )

    def _back_off(self, failures: int, why: str) -> None:
        delay = random.uniform(0, min(MAX_BACKOFF, 2.0**failures))
        log.warning(
            "API unavailable, backing off",
            extra={"action": "claim_backoff", "delay": round(delay, 2), "error": why},
        )
        self._stop.wait(delay)

    def _hand_back(self, claim: Claim) -> None:
        """A claim that arrived after the stop: release it at once."""
        try:
            self.client.release(claim.assignment_id)
        except (ApiError, ApiUnavailable) as error:
            log.warning("release failed: %s", error, extra={"action": "release_failed"})
        finally:
            self._slots.release()
        log.info(
            "late claim released",
            extra={
                "action": "released",
                "job_id": claim.job_id,
                "assignment_id": claim.assignment_id,
            },
        )

    def _next_claim(self, count: int) -> dict[str, object] | None:
        """What ``count`` results ask for as ``next``: as many jobs, none once stopping."""
        if self._stop.is_set():
            return None
        return claim_body(
            self.settings.job_types, self.identity.task_arn, self.identity.cluster_arn, 0, count
        )

    def _take_next(self, claims: list[Claim], finished: list[int]) -> None:
        """Start the claims that came with results, each in a finished job's slot (its
        run, still reporting, leaves the slot to it)."""
        with self._lock:
            self._passed.update(finished[: len(claims)])
        for claim in claims:
            if self._stop.is_set():
                self._hand_back(claim)
            else:
                self._start(claim)

    # -- running -------------------------------------------------------------
    def _start(self, claim: Claim) -> None:
        run = JobRun(claim, self.tools)
        thread = threading.Thread(
            target=self._run_job, args=(run,), name=f"job-{claim.job_id}", daemon=True
        )
        with self._lock:
            self._runs[claim.assignment_id] = (run, thread)
            self._last_active = time.monotonic()
        thread.start()

    def _run_job(self, run: JobRun) -> None:
        try:
            run.run()
        finally:
            with self._lock:
                self._runs.pop(run.claim.assignment_id, None)
                self._last_active = time.monotonic()
                passed = run.claim.assignment_id in self._passed
                self._passed.discard(run.claim.assignment_id)
            if not passed:
                self._slots.release()

    def _storage_for(self, uri: str) -> ResultStorage:
        """The store for an assignment's URI; S3 clients are reused per bucket."""
        if not uri.startswith("s3://"):
            return storage_for_uri(uri, self.settings.env)
        bucket, _ = s3_uri_parts(uri)
        with self._lock:
            if bucket not in self._s3:
                self._s3[bucket] = storage_for_uri(f"s3://{bucket}", self.settings.env)
            return self._s3[bucket]
