"""``ShoalClient``: the one HTTP client of the worker, the manager and the CLI.

Helpers return plain dicts with the wire's keys, except the worker routes'
answers, which are the small frozen dataclasses of :mod:`shared.client.models`.
The client is safe to share between threads.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from shared.client.auth import ApiKeyCredentials, Credentials, NoCredentials, PasswordCredentials
from shared.client.errors import ApiError
from shared.client.longpoll import AbortableTransport
from shared.client.models import Claim, HeartbeatAnswer, parse_time
from shared.client.retry import RetryPolicy
from shared.client.session import Session
from shared.client.settings import ClientSettings
from shared.client.sse import parse_sse

# A claim's long poll may take waitSeconds; its HTTP timeout must outlast that.
_CLAIM_MARGIN_SECONDS = 15.0
# Sent with every try of a submission: the API creates nothing twice for one key.
IDEMPOTENCY_KEY = "Idempotency-Key"


class ShoalClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        email: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing is safe
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        credentials: Credentials = NoCredentials()
        if api_key:
            credentials = ApiKeyCredentials(api_key)
        elif email and password:
            credentials = PasswordCredentials(email, password)
        elif email or password:
            raise ValueError("email and password go together")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = Session(self._http(transport), credentials, retry)
        # Long polls on connections of their own, which abort_long_polls cuts off.
        self._polls: AbortableTransport | None = None
        self._poll_session = self._session
        if transport is None:
            self._polls = AbortableTransport()
            self._poll_session = Session(
                self._http(self._polls), credentials, retry, aborted=self._polls.aborted
            )

    @classmethod
    def from_settings(
        cls,
        settings: ClientSettings,
        *,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing is safe
        transport: httpx.BaseTransport | None = None,
    ) -> ShoalClient:
        return cls(
            settings.api_url,
            api_key=settings.api_key,
            email=settings.email,
            password=settings.password,
            timeout=settings.timeout,
            retry=retry,
            transport=transport,
        )

    def _http(self, transport: httpx.BaseTransport | None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "shoal-client"},
        )

    def close(self) -> None:
        self._session.http.close()
        self._poll_session.http.close()

    def abort_long_polls(self) -> None:
        """End the claims waiting now, and refuse new ones (a worker that stops): the API
        sees their connections close, so it hands their jobs to no one."""
        if self._polls is not None:
            self._polls.abort()

    def __enter__(self) -> ShoalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer (None when empty); ApiError/ApiUnavailable else."""
        return _json(self._session.request(method, path, **kwargs))

    # -- workers -----------------------------------------------------------
    def claim(
        self,
        job_types: Sequence[str],
        *,
        task_arn: str,
        cluster_arn: str,
        wait_seconds: float = 0,
    ) -> Claim | None:
        """Take a job of one of the types, waiting up to ``wait_seconds``; None if none came."""
        claims = self.claim_many(
            job_types, task_arn=task_arn, cluster_arn=cluster_arn, wait_seconds=wait_seconds
        )
        return claims[0] if claims else None

    def claim_many(
        self,
        job_types: Sequence[str],
        *,
        task_arn: str,
        cluster_arn: str,
        wait_seconds: float = 0,
        max_jobs: int = 1,
    ) -> list[Claim]:
        """Take up to ``max_jobs`` jobs at once, waiting up to ``wait_seconds`` for the first."""
        body = claim_body(job_types, task_arn, cluster_arn, wait_seconds, max_jobs)
        timeout = max(self.timeout, wait_seconds + _CLAIM_MARGIN_SECONDS)
        answer = _json(
            self._poll_session.request("POST", "/api/jobs/claim", json=body, timeout=timeout)
        )
        return claims_of(answer, max_jobs)

    def heartbeat(
        self, assignment_id: int, progress: float | None = None, message: str | None = None
    ) -> HeartbeatAnswer:
        body: dict[str, Any] = {}
        if progress is not None:
            body["progress"] = progress
        if message is not None:
            body["message"] = message
        answer = self.request("POST", f"/api/jobs/assignments/{assignment_id}/heartbeat", json=body)
        return HeartbeatAnswer(
            cancelled=bool(answer.get("cancelled")), expires_at=parse_time(answer.get("expires_at"))
        )

    def submit_result(
        self,
        assignment_id: int,
        status: str,
        result_payload: Mapping[str, Any] | None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Report SUCCEEDED or FAILED; returns the API's answer ({} when empty)."""
        path = f"/api/jobs/assignments/{assignment_id}/result"
        return self.request("POST", path, json=result_body(status, result_payload, error)) or {}

    def submit_results(
        self, results: Sequence[Mapping[str, Any]], next_claim: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Report up to 50 outcomes at once (``{assignmentId, status, resultPayload,
        error?}`` each), and with ``next_claim`` (a ``claim_body``) claim the next jobs in
        the same request: ``{"results": [one answer each, in order], "next": ...}``.

        One result (and no claim) goes to the single result route, answered as
        ``{"results": [...]}`` all the same. Read the claims with ``claims_of``.
        """
        timeout = self.timeout
        if next_claim is not None:
            timeout = max(timeout, next_claim["waitSeconds"] + _CLAIM_MARGIN_SECONDS)
        if len(results) == 1:
            [one] = results
            body = {key: value for key, value in one.items() if key != "assignmentId"}
            path = f"/api/jobs/assignments/{one['assignmentId']}/result"
            if next_claim is not None:
                body["next"] = next_claim
            try:
                answer = self.request("POST", path, json=body, timeout=timeout) or {}
            except ApiError as error:
                refused = {"status": error.status, "message": error.message}
                if error.errors:
                    refused["errors"] = error.errors
                return {"results": [{"assignmentId": one["assignmentId"], **refused}]}
            answered = {"assignmentId": one["assignmentId"], "status": 200, "job": answer["job"]}
            return {"results": [answered], "next": answer.get("next")}
        body = {"results": list(results)}
        if next_claim is not None:
            body["next"] = next_claim
        answer = self.request("POST", "/api/jobs/assignments/results", json=body, timeout=timeout)
        return dict(answer)

    def release(self, assignment_id: int, error: str | None = None) -> dict[str, Any]:
        """Hand a live assignment back: its job is PENDING again at once, no attempt charged.

        With ``error`` the attempt failed outside the handler (its results could not be
        stored): it is charged, and the job ends FAILED if it was the last.
        """
        path = f"/api/jobs/assignments/{assignment_id}/release"
        body = None if error is None else {"error": error}
        return self.request("POST", path, json=body) or {}

    def post_logs(
        self,
        assignment_id: int,
        lines: Sequence[Mapping[str, Any]],
        dropped: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Send a batch of the attempt's log lines (``seq``, ``time``, ``level``, ``stream``,
        ``message``) and what was dropped before them; ``{stored, cut}``.

        Sending the same lines again stores nothing twice (the API goes by ``seq``).
        """
        body: dict[str, Any] = {"lines": list(lines)}
        if dropped:
            body["dropped"] = dict(dropped)
        path = f"/api/jobs/assignments/{assignment_id}/logs"
        return self.request("POST", path, json=body) or {}

    def poll(self, job_type: str | None = None) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.request(
            "GET", "/api/jobs/poll", params={"jobType": job_type}
        )["jobs"]
        return jobs

    def queue(self) -> dict[str, dict[str, int]]:
        """``{TYPE: {"pending": n, "inProgress": n}}`` for every job type."""
        counts: dict[str, dict[str, int]] = self.request("GET", "/api/jobs/queue")["jobTypes"]
        return counts

    def job_type_revision(self, name: str, revision: int) -> dict[str, Any]:
        """One revision of a registered job type: its document as it was registered then
        (``run``, ``resultSchema``, ...) with ``revision``, ``source`` and ``retired``."""
        path = f"/api/job-types/{quote(name, safe='')}/revisions/{int(revision)}"
        answer: dict[str, Any] = self.request("GET", path)
        return answer

    # -- researchers -------------------------------------------------------
    def submit_job(
        self,
        job_type: str,
        input_payload: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``{jobId, cached, requestId}``. Every try of the request carries one
        ``Idempotency-Key`` (a new one unless given), so a retry creates nothing twice.
        ``options``: the body's optional fields (priority, name, tags, noCache); None omits one."""
        body = {"type": job_type, "inputPayload": dict(input_payload), **_given(options)}
        return self._submit("/api/jobs", body, idempotency_key)

    def submit_batch(
        self,
        job_type: str,
        inputs: Sequence[Mapping[str, Any]],
        *,
        priority: int | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """``{batchId, jobIds, cached, created}``: up to 10,000 jobs, all or none; retried
        under one ``Idempotency-Key`` like ``submit_job``, with its ``options``."""
        body: dict[str, Any] = {"type": job_type, "inputs": [dict(i) for i in inputs]}
        body |= _given({"priority": priority, **options})
        return self._submit("/api/jobs/batch", body, idempotency_key)

    def resubmit_job(
        self,
        job_id: int,
        input_payload: Mapping[str, Any] | None = None,
        *,
        no_cache: bool = False,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Run job ``job_id`` again (its input, or ``input_payload``): ``{jobId, cached,
        requestId}``; ``no_cache`` always makes a new job. Retried like ``submit_job``."""
        body: dict[str, Any] = {"noCache": no_cache}
        if input_payload is not None:
            body["inputPayload"] = dict(input_payload)
        return self._submit(f"/api/jobs/{job_id}/resubmit", body, idempotency_key)

    def _submit(self, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        headers = {IDEMPOTENCY_KEY: key or str(uuid.uuid4())}
        answer: dict[str, Any] = self.request("POST", path, json=body, headers=headers)
        return answer

    def batch_status(self, batch_id: int) -> dict[str, Any]:
        """``{batch, counts: {STATUS: n}, deleted, finished, progress}`` (per input)."""
        answer: dict[str, Any] = self.request("GET", f"/api/jobs/batches/{batch_id}")
        return answer

    def cancel_batch(self, batch_id: int) -> dict[str, Any]:
        """The batch's status after cancelling its live jobs, with ``cancelled``."""
        answer: dict[str, Any] = self.request("POST", f"/api/jobs/batches/{batch_id}/cancel")
        return answer

    def list_batches(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """``{batches: [{id, name, type, size, ...}], nextCursor}``: the caller's, newest first."""
        params = {"limit": limit, "cursor": cursor}
        answer: dict[str, Any] = self.request("GET", "/api/jobs/batches", params=params)
        return answer

    def batch_failed(
        self, batch_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """``{failed: [{inputIndex, jobId, status, error}], nextCursor}``, in input order."""
        return self._batch_page(batch_id, "failed", limit, cursor)

    def batch_files(
        self, batch_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """``{jobs: [{inputIndex, job, files: {relativePath: url}}], nextCursor}``."""
        return self._batch_page(batch_id, "download", limit, cursor)

    def _batch_page(
        self, batch_id: int, what: str, limit: int | None, cursor: str | None
    ) -> dict[str, Any]:
        params = {"limit": limit, "cursor": cursor}
        path = f"/api/jobs/batches/{batch_id}/{what}"
        answer: dict[str, Any] = self.request("GET", path, params=params)
        return answer

    def get_job(self, job_id: int) -> dict[str, Any]:
        """The job (unwrapped from ``{job}``), with ``assignments[]`` and their results."""
        job: dict[str, Any] = self.request("GET", f"/api/jobs/{job_id}")["job"]
        return job

    def list_jobs(self, *, mine: bool = False, **filters: Any) -> dict[str, Any]:
        """``{jobs, total, totalCapped, nextCursor}``; the filters of ``GET /api/jobs``
        (status, type, batch, name, tag, since, until, userId, allUsers, sort, order,
        limit, cursor). ``mine``: ``/api/jobs/mine`` (an admin's own, not everyone's)."""
        path = "/api/jobs/mine" if mine else "/api/jobs"
        answer: dict[str, Any] = self.request("GET", path, params=filters)
        return answer

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        """The cancelled job (unwrapped from ``{job}``)."""
        job: dict[str, Any] = self.request("POST", f"/api/jobs/{job_id}/cancel")["job"]
        return job

    def download_urls(
        self, job_id: int, expiry_seconds: int | None = None, filter_prefix: str | None = None
    ) -> dict[str, Any]:
        """``{job: {id, type, status}, files: {relativePath: url}}``."""
        params = {"expirySeconds": expiry_seconds, "filterPrefix": filter_prefix}
        answer: dict[str, Any] = self.request("GET", f"/api/jobs/{job_id}/download", params=params)
        return answer

    def job_logs(
        self,
        job_id: int,
        *,
        attempt: int | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """One page of the job's log lines: ``{lines: [{attempt, seq, time, level, stream,
        message}], next}``; ``next`` (None on the last page) is the next page's ``after``."""
        params = {"attempt": attempt, "after": after, "limit": limit, "format": "json"}
        answer: dict[str, Any] = self.request("GET", f"/api/jobs/{job_id}/logs", params=params)
        return answer

    def iter_job_logs(
        self, job_id: int, *, attempt: int | None = None, after: str | None = None
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Every log line from ``after`` on, page by page, each with the ``after`` its page
        was read from: reading again from there repeats at most that page."""
        while True:
            page = self.job_logs(job_id, attempt=attempt, after=after)
            for line in page["lines"]:
                yield line, after
            cursor = page.get("next")
            if not cursor or not page["lines"]:
                return
            after = cursor

    def events(
        self, job_id: int, *, read_timeout: float | None = None, last_event_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The job's events as ``{"event": name, "data": parsed JSON, "id": its id}``, until
        the stream ends.

        The server ends the stream after a terminal state. ``read_timeout`` bounds the
        silence between two lines (None waits as long as the connection stays open).
        ``last_event_id`` (the ``id`` of the last event of an earlier stream) resumes it:
        the job's state, then the log events that stream had not sent.
        An ``error`` event (the caller lost access meanwhile) raises ApiError; one with
        status 503 (the server had to end the stream) just ends it: open it again.
        """
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        response = self._session.request(
            "GET", f"/api/jobs/{job_id}/events", timeout=timeout, stream=True, headers=headers
        )
        try:
            for event in parse_sse(response.iter_lines()):
                if event.event == "error" and isinstance(event.data, dict):
                    status = int(event.data.get("status", 403))
                    if status == 503:
                        return
                    raise ApiError(status, event.data.get("message"))
                yield {"event": event.event, "data": event.data, "id": event.id}
        finally:
            response.close()

    # -- job types ---------------------------------------------------------
    def job_types(self, *, retired: bool = False) -> list[dict[str, Any]]:
        """Every job type's document, by name: built-in, entry-point and registered
        (retired ones too with ``retired``)."""
        params = {"retired": "true"} if retired else None
        found: list[dict[str, Any]] = self.request("GET", "/api/job-types", params=params)[
            "jobTypes"
        ]
        return found

    def job_type(self, name: str) -> dict[str, Any]:
        """The type's document as it is now (a retired one with ``retired: true``)."""
        answer: dict[str, Any] = self.request("GET", _type_path(name))
        return answer

    def job_type_revisions(self, name: str) -> list[dict[str, Any]]:
        """``[{revision, createdAt, createdBy, contentHash}]``, oldest first."""
        found: list[dict[str, Any]] = self.request("GET", f"{_type_path(name)}/revisions")[
            "revisions"
        ]
        return found

    def put_job_type(self, name: str, document: Mapping[str, Any]) -> dict[str, Any]:
        """Register or change a type (ADMIN); the type as it is now. The same content
        again keeps its revision, so a retried PUT changes nothing twice."""
        answer: dict[str, Any] = self.request("PUT", _type_path(name), json=dict(document))
        return answer

    def retire_job_type(self, name: str) -> dict[str, Any]:
        """Retire a type (ADMIN): no new jobs; queued ones still run. The type, retired."""
        answer: dict[str, Any] = self.request("DELETE", _type_path(name))
        return answer

    # -- webhooks ----------------------------------------------------------
    def create_webhook(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The new subscription (unwrapped from ``{webhook}``), with its ``secret``: the
        only time it is shown."""
        webhook: dict[str, Any] = self.request("POST", "/api/webhooks", json=dict(body))["webhook"]
        return webhook

    def webhooks(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.request("GET", "/api/webhooks")["webhooks"]
        return found

    def delete_webhook(self, webhook_id: int) -> None:
        self.request("DELETE", f"/api/webhooks/{webhook_id}")

    def webhook_deliveries(
        self, webhook_id: int, *, limit: int | None = None, cursor: str | None = None
    ) -> dict[str, Any]:
        """``{deliveries: [{id, eventId, event, subjectId, status, state, attempts,
        responses: [...]}], nextCursor}``, newest first."""
        params = {"limit": limit, "cursor": cursor}
        path = f"/api/webhooks/{webhook_id}/deliveries"
        answer: dict[str, Any] = self.request("GET", path, params=params)
        return answer

    # -- admins ------------------------------------------------------------
    def admin_status(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/api/admin/status")
        return answer

    def admin_scale(self, desired_count: int) -> dict[str, Any]:
        body = {"desiredCount": desired_count}
        return self.request("POST", "/api/admin/scale", json=body) or {}

    def admin_redeploy(self) -> dict[str, Any]:
        return self.request("POST", "/api/admin/redeploy") or {}

    def admin_workers(self) -> dict[str, Any]:
        """``{workers: [{taskArn, jobTypes, status, startedAt}]}``."""
        answer: dict[str, Any] = self.request("GET", "/api/admin/workers")
        return answer

    def health(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/api/health")
        return answer


def result_body(
    status: str, result_payload: Mapping[str, Any] | None, error: str | None = None
) -> dict[str, Any]:
    """A result's body (an entry of ``submit_results`` with its ``assignmentId``)."""
    body: dict[str, Any] = {"status": str(status), "resultPayload": result_payload}
    if error is not None:
        body["error"] = error
    return body


def claim_body(
    job_types: Sequence[str],
    task_arn: str,
    cluster_arn: str,
    wait_seconds: float = 0,
    max_jobs: int = 1,
) -> dict[str, Any]:
    """The claim route's body (also a result's ``next``)."""
    return {
        "jobTypes": list(job_types),
        "ecsTaskArn": task_arn,
        "ecsClusterArn": cluster_arn,
        "waitSeconds": math.ceil(wait_seconds),
        "maxJobs": max_jobs,
    }


def claims_of(answer: Mapping[str, Any] | None, max_jobs: int) -> list[Claim]:
    """The claims in a claim answer (or a result's ``next``) for ``max_jobs``."""
    if answer is None:
        return []
    claimed = answer["claims"] if max_jobs > 1 else [answer]
    return [Claim(job=one["job"], assignment=one["assignment"]) for one in claimed]


def _json(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer, None when empty."""
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _type_path(name: str) -> str:
    """A type's URL: its name is one path segment, whatever it holds."""
    return f"/api/job-types/{quote(name, safe='')}"


def _given(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that have a value (None: left to the API's default)."""
    return {name: value for name, value in options.items() if value is not None}
