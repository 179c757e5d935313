"""One claimed job, end to end: run its handler under a heartbeat, upload the output
directory to the assignment's storage URI, and report the outcome.

A cancelled job reports nothing as a success: a user's cancel and a lost lease
are only logged (the API already knows), and a job stopped by a shutdown hands
its assignment back so the job is PENDING again at once. Output that cannot be
stored, even after the upload's retries, is not the handler's failure: the
attempt is handed back as failed, and the job runs again while attempts remain.
A job type with no Python handler in this worker runs its registered command
instead (:mod:`worker.command_runner`).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.client import ApiError, ApiUnavailable, Claim, ShoalClient
from shared.enums import JobStatus
from shared.errors import ShoalError
from shared.jobtypes import JobTypeRegistry
from shared.logs import BoundLogger
from shared.storage import ResultStorage
from worker import inputs_from
from worker.capture import JobSink, OutputCapture
from worker.command_runner import CommandFailed, CommandRunner
from worker.context import Cancellation, CancelReason, JobCancelled, JobContext
from worker.handlers import HandlerRegistry
from worker.heartbeat import heartbeat
from worker.joblog import LogBuffer, LogShipper
from worker.reporter import ResultReporter
from worker.runspec import RunSpecError
from worker.settings import DEFAULT_LOG_BUFFER_BYTES, DEFAULT_UPLOAD_RETRY_SECONDS
from worker.upload import Upload

log = logging.getLogger("worker.job")
MAX_ERROR = 4000
# Between two tries to report an outcome while the API is unreachable.
REPORT_PAUSE = 0.5


@dataclass(frozen=True)
class Outcome:
    status: JobStatus | None  # None: cancelled, nothing to report
    payload: dict[str, Any] | None = None
    error: str | None = None
    # The results could not be stored: the attempt is handed back as failed, not reported.
    hand_back: bool = False
    # What is uploaded when it is not the whole job folder (a command's output/).
    files: Path | None = None


@dataclass(frozen=True)
class JobTools:
    """What every job run shares: the API, the registries, the stores and the settings."""

    client: ShoalClient
    specs: JobTypeRegistry
    handlers: HandlerRegistry
    storage_for: Callable[[str], ResultStorage]
    work_dir: Path
    heartbeat_seconds: float
    capture: OutputCapture = field(default_factory=OutputCapture)
    log_buffer_bytes: int = DEFAULT_LOG_BUFFER_BYTES
    log_interval_seconds: float = 1.0
    log_flush_seconds: float = 10.0
    upload_retry_seconds: float = DEFAULT_UPLOAD_RETRY_SECONDS
    # Set when the worker must exit now (what started it is gone): deliveries of
    # outcomes are tried once more, not retried.
    exiting: threading.Event = field(default_factory=threading.Event)
    # Runs the types that have no handler here (None: such a type fails as unknown).
    commands: CommandRunner | None = None
    # Reports results together with others that finish close by (None: one by one).
    reporter: ResultReporter | None = None


class JobRun:
    def __init__(self, claim: Claim, tools: JobTools) -> None:
        self.claim = claim
        self.tools = tools
        self.cancellation = Cancellation()
        self.log = BoundLogger(
            log,
            {
                "job_id": claim.job_id,
                "assignment_id": claim.assignment_id,
                "job_type": claim.job_type,
            },
        )
        # Held while the outcome is reported or the assignment released: never both.
        self._finish_lock = threading.Lock()
        self._finished = False
        self._lease_ends = claim.expires_at
        # The lease as granted: how long after its end a report is still tried (_report).
        self._lease_length = max(0.0, _seconds_until(claim.expires_at))
        # A command gets this long after its cancellation to stop before it is killed.
        self.stop_grace = 0.0

    def run(self) -> None:
        """The thread's body: never raises."""
        claim, started = self.claim, time.monotonic()
        self.log.info("job started", extra={"action": "job_started", "attempt": _attempt(claim)})
        output_dir = self.tools.work_dir / f"assignment-{claim.assignment_id}"
        inputs_dir = self.tools.work_dir / f"assignment-{claim.assignment_id}-inputs"
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            outcome = self._run_under_heartbeat(output_dir, inputs_dir)
            self._finish(outcome)
        except Exception:
            self.log.exception("job run crashed", extra={"action": "job_crashed"})
        finally:
            shutil.rmtree(output_dir, ignore_errors=True)
            shutil.rmtree(inputs_dir, ignore_errors=True)
            self.log.info(
                "job ended",
                extra={"action": "job_ended", "seconds": round(time.monotonic() - started, 3)},
            )

    def abandon(self, timeout: float = 10.0) -> None:
        """Stop the job for a shutdown and hand its assignment back (from another thread)."""
        if not self._finish_lock.acquire(timeout=timeout):
            self.log.warning("outcome still being reported", extra={"action": "abandon_timeout"})
            return
        try:
            if self._finished:
                return
            self.cancellation.cancel(CancelReason.SHUTDOWN)
            self._release()
        finally:
            self._finish_lock.release()

    def enforce_deadline(self) -> None:
        """Cancel the handler once the attempt's run-time limit passed (the API ends it too)."""
        deadline = self.claim.deadline_at
        if deadline is None or datetime.now(UTC) < deadline:
            return
        if self.cancellation.cancel(CancelReason.TIMED_OUT):
            self.log.warning("run-time limit reached", extra={"action": "job_timed_out"})

    def ignored_cancellation_for(self) -> float:
        """Seconds since the job was cancelled, past a command's stop grace (0 while
        it is not)."""
        at = self.cancellation.at
        return 0.0 if at is None else max(0.0, time.monotonic() - at - self.stop_grace)

    def _run_under_heartbeat(self, output_dir: Path, inputs_dir: Path) -> Outcome:
        with (
            heartbeat(
                self.tools.client,
                self.claim.assignment_id,
                expires_at=self.claim.expires_at,
                max_interval=self.tools.heartbeat_seconds,
                cancellation=self.cancellation,
                logger=self.log,
            ) as beat,
            self._job_log() as log_buffer,
        ):
            outcome = self._fetch_inputs(inputs_dir, log_buffer)
            if outcome is None:
                outcome = self._execute(output_dir, beat.progress, log_buffer)
            if outcome.status is JobStatus.SUCCEEDED and not self.cancellation.event.is_set():
                outcome = self._upload(outcome.files or output_dir, outcome, log_buffer)
            self._lease_ends = beat.expires_at
            return outcome

    def _fetch_inputs(self, inputs_dir: Path, log_buffer: LogBuffer) -> Outcome | None:
        """Put local paths and payloads where the input takes them ``$from`` its parents;
        a file that cannot be had fails the attempt (charged, tried again while attempts
        remain)."""
        try:
            job = self.claim.job
            job["input_payload"] = inputs_from.fetch(job.get("input_payload"), inputs_dir)
        except inputs_from.InputsUnavailable as error:
            self.log.warning("inputs not fetched: %s", error, extra={"action": "inputs_failed"})
            log_buffer.add("ERROR", "log", str(error))
            return Outcome(JobStatus.FAILED, error=str(error)[:MAX_ERROR], hand_back=True)
        return None

    @contextmanager
    def _job_log(self) -> Iterator[LogBuffer]:
        """The attempt's log buffer, shipped while the block runs and flushed at its end
        (before the outcome is reported), within ``log_flush_seconds``."""
        shipper = LogShipper(
            self.tools.client,
            self.claim.assignment_id,
            LogBuffer(self.tools.log_buffer_bytes),
            interval=self.tools.log_interval_seconds,
            logger=self.log,
        )
        shipper.start()
        try:
            yield shipper.buffer
        finally:
            shipper.close(self.tools.log_flush_seconds)

    def _execute(
        self, output_dir: Path, report: Callable[[float, str | None], None], log_buffer: LogBuffer
    ) -> Outcome:
        """Run the handler; any error becomes a FAILED outcome with its message."""
        runner = self.tools.commands
        if runner is not None and self.claim.job_type not in self.tools.handlers:
            return self._run_command(output_dir, report, log_buffer, runner)
        spec = self.tools.specs.get(self.claim.job_type)
        try:
            with self.tools.capture.attach(JobSink(log_buffer)) as sink:
                ctx = JobContext(
                    job=self.claim.job,
                    input=spec.validate_input(self.claim.job.get("input_payload")),
                    output_dir=output_dir,
                    logger=self.log,
                    cancel_event=self.cancellation.event,
                    _report=report,
                    _output=sink.write,
                )
                payload = dict(self.tools.handlers.get(self.claim.job_type)(ctx) or {})
            if self.cancellation.event.is_set():
                return Outcome(None)
            spec.validate_result(_without_metadata(payload))
        except JobCancelled:
            return Outcome(None)
        except Exception as error:
            if self.cancellation.event.is_set():
                return Outcome(None)  # a handler stopped by its cancellation may raise anything
            self.log.warning("handler failed: %s", error, extra={"action": "job_failed"})
            log_buffer.add("ERROR", "log", "".join(traceback.format_exception(error)).rstrip())
            return Outcome(JobStatus.FAILED, error=_describe(error))
        return Outcome(JobStatus.SUCCEEDED, payload)

    def _run_command(
        self,
        job_dir: Path,
        report: Callable[[float, str | None], None],
        log_buffer: LogBuffer,
        runner: CommandRunner,
    ) -> Outcome:
        """Run the type's registered command; its failure is the job's, with its message."""
        try:
            spec = runner.specs.spec_for(self.claim)
            self.stop_grace = spec.stop_grace_seconds
            done = runner.run(
                spec,
                self.claim,
                job_dir,
                report=report,
                log_buffer=log_buffer,
                cancel=self.cancellation.event,
            )
        except (RunSpecError, CommandFailed) as error:
            first = error.message.partition("\n")[0]
            self.log.warning("command failed: %s", first, extra={"action": "job_failed"})
            log_buffer.add("ERROR", "log", first)
            return Outcome(JobStatus.FAILED, error=error.message)
        except ApiUnavailable as error:
            # Nothing known either way: the lease runs out and the job is tried again.
            self.log.warning("run spec not read: %s", error, extra={"action": "run_spec_failed"})
            return Outcome(None)
        if done is None or self.cancellation.event.is_set():
            return Outcome(None)
        return Outcome(JobStatus.SUCCEEDED, done.payload, files=done.files)

    def _upload(self, output_dir: Path, outcome: Outcome, log_buffer: LogBuffer) -> Outcome:
        upload = Upload(
            self.tools.storage_for,
            retry_seconds=self.tools.upload_retry_seconds,
            stop=self.cancellation.event,
            logger=self.log,
            note=lambda level, message: log_buffer.add(level, "log", message),
        )
        failed = upload.run(output_dir, self.claim.storage_uri, self.claim.deadline_at)
        if failed is None:
            return outcome
        return Outcome(JobStatus.FAILED, error=failed[:MAX_ERROR], hand_back=True)

    def _finish(self, outcome: Outcome) -> None:
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
            reason = self.cancellation.reason
            if reason is CancelReason.SHUTDOWN:
                self._release()
            elif reason is not None or outcome.status is None:
                self.log.info(
                    "job stopped, nothing reported",
                    extra={"action": "job_stopped", "reason": str(reason)},
                )
            else:
                self._report(outcome.status, outcome)

    def _report(self, status: JobStatus, outcome: Outcome) -> None:
        """Report the outcome (or hand a failed attempt back); an unreachable API is tried
        again while the lease lasts, and for one lease period more.

        The client's own retries give up after seconds, but a database or API restart
        can take longer; until the lease ends the API would still take the result, so
        giving up earlier would throw finished work away and run the job again. After
        it, the API still takes a late result until another worker claims the job, and
        a lease that ran out while the database was down is kept for a lease period
        after it starts again (webapi/store/sql/fragments.py, ``lease_over``).
        """
        assignment_id = self.claim.assignment_id
        while True:
            try:
                if outcome.hand_back:
                    self.tools.client.release(assignment_id, error=outcome.error)
                else:
                    submit = self.tools.client.submit_result
                    if self.tools.reporter is not None:
                        submit = self.tools.reporter.submit
                    submit(assignment_id, status.value, outcome.payload, outcome.error)
            except ApiUnavailable as error:
                left = _seconds_until(self._lease_ends) + self._lease_length
                if left <= 0 or self.tools.exiting.is_set():
                    self._refused(error)
                    return
                self.log.warning(
                    "result not delivered yet: %s", error, extra={"action": "result_retry"}
                )
                self.tools.exiting.wait(min(REPORT_PAUSE, left))
                continue
            except ApiError as error:
                self._refused(error)
                return
            self._reported(status, outcome)
            return

    def _reported(self, status: JobStatus, outcome: Outcome) -> None:
        if outcome.hand_back:
            self.log.warning(
                "attempt handed back as failed: %s",
                outcome.error,
                extra={"action": "attempt_failed"},
            )
        else:
            self.log.info(
                "result reported", extra={"action": "job_reported", "status": status.value}
            )

    def _refused(self, error: Exception) -> None:
        # The lease runs out and the job is retried elsewhere: nothing is lost.
        self.log.error("result not accepted: %s", error, extra={"action": "result_refused"})

    def _release(self) -> None:
        self._finished = True
        try:
            self.tools.client.release(self.claim.assignment_id)
        except (ApiError, ApiUnavailable) as error:
            self.log.warning("release failed: %s", error, extra={"action": "release_failed"})
            return
        self.log.info("assignment released", extra={"action": "released"})


def _seconds_until(moment: datetime | None) -> float:
    return 0.0 if moment is None else (moment - datetime.now(UTC)).total_seconds()


def _attempt(claim: Claim) -> Any:
    return claim.assignment.get("attempt")


def _without_metadata(payload: dict[str, Any]) -> dict[str, Any]:
    """The API keeps keys starting with ``_`` as metadata, outside the result schema."""
    return {key: value for key, value in payload.items() if not key.startswith("_")}


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, ShoalError):
        text = error.message + (f" {json.dumps(error.errors)}" if error.errors else "")
    return text[:MAX_ERROR]
