"""Workers as ECS (Fargate) tasks, launched with RunTask and read back by tag.

Nothing about the fleet is trusted from memory: every ``fleet()`` lists the tasks
``startedBy=shoal-manager`` in each configured cluster and describes them, so a
manager that restarts sees the tasks its predecessor launched. All calls share
one token bucket (ECS's API rate) and back off on throttling.

Every call is bounded by ``budget_seconds`` (a third of the manager's lease): the
connect and read timeouts of botocore and our own throttling retries together
never outlast it, and botocore retries nothing itself (``total_max_attempts: 1``),
so a call cannot still be running when the lease has passed to another manager.
A refused or unreachable RunTask is a failed launch of that job type only.

A job type the settings document does not name may be a registered type:
``run_of(name)`` gives its current document, and if it has a run spec the type runs
in ``registered``'s cluster with a task definition of its own (``ecs_types``). A
failure to describe or register that task definition is a failed launch like a
refused RunTask.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from manager.backends.base import (
    Fleet,
    FleetUnavailable,
    LaunchFailure,
    LaunchResult,
    Worker,
    WorkerLost,
)
from manager.backends.ecs_tasks import (
    DESCRIBE_MAX,
    RUN_TASK_MAX,
    STARTED_BY,
    TAG_JOB_TYPE,
    loss,
    run_task_kwargs,
    start_failure,
    tags_of,
    to_worker,
)
from manager.backends.ecs_types import NotRunnable, TypeDefinitions
from manager.ratelimit import TokenBucket
from manager.targets import EcsTarget, RegisteredEcs
from shared.jobtypes.document import RegisteredType

log = logging.getLogger(__name__)
T = TypeVar("T")
THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}
_SEEN_STOPPED_LIMIT = 10_000
# Of a call's budget, what one try may spend connecting and waiting for the answer.
CONNECT_SHARE = 1 / 6
READ_SHARE = 1 / 3


def boto_config(budget_seconds: float) -> Any:
    """botocore retries nothing (``total_max_attempts: 1`` means one try; its
    ``max_attempts`` counts retries), and one try fits a third of the budget."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=budget_seconds * CONNECT_SHARE,
        read_timeout=budget_seconds * READ_SHARE,
    )


def is_throttling(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code", "") in THROTTLING


def refusal(error: ClientError | BotoCoreError) -> str:
    """One line saying why AWS refused or never answered a call."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        return f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}".strip()
    return f"{type(error).__name__}: {error}"


def no_registered_types(_name: str) -> RegisteredType | None:
    return None


class EcsBackend:
    name = "ecs"

    def __init__(
        self,
        targets: Mapping[str, EcsTarget],
        *,
        api_url: str,
        holder: str,
        client: Any = None,
        region: str | None = None,
        calls_per_second: float = 20.0,
        max_retries: int = 5,
        budget_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        registered: RegisteredEcs | None = None,
        run_of: Callable[[str], RegisteredType | None] = no_registered_types,
    ) -> None:
        if client is None:
            client = boto3.client(
                "ecs",
                region_name=region,
                config=boto_config(budget_seconds),
            )
        self.ecs = client
        self.targets = dict(targets)
        self.api_url = api_url
        self.holder = holder
        self.max_retries = max_retries
        self.budget_seconds = budget_seconds
        self.clock = clock
        self.sleep = sleep
        self.bucket = TokenBucket(calls_per_second, clock=clock, sleep=sleep)
        # Every request, paginator pages included, takes a token first.
        self.ecs.meta.events.register_first("before-call.ecs", self._take_token)
        self._seen_stopped: set[str] = set()
        # Failures from before this instance started were a predecessor's to judge.
        self.started_at = datetime.now(UTC)
        self.throttled = 0
        self.run_of = run_of
        self.types = None if registered is None else TypeDefinitions(client, self._call, registered)

    def _take_token(self, **_: Any) -> None:
        self.bucket.take()

    def _call(self, operation: str, request: Callable[[], T]) -> T:
        """Run ``request``, retrying with exponential backoff while ECS throttles,
        for as long as the call's budget allows another try."""
        # One try may take botocore's connect + read timeouts: leave room for it.
        per_try = self.budget_seconds * (CONNECT_SHARE + READ_SHARE)
        give_up_at = self.clock() + self.budget_seconds - per_try
        for attempt in range(self.max_retries + 1):
            try:
                return request()
            except ClientError as error:
                delay = min(20.0, 0.5 * 2**attempt)
                out_of_budget = self.clock() + delay > give_up_at
                if not is_throttling(error) or attempt == self.max_retries or out_of_budget:
                    raise
                self.throttled += 1
                log.warning(
                    "ECS throttled %s; retrying in %.1fs",
                    operation,
                    delay,
                    extra={"action": "ecs_throttled", "operation": operation},
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    # -- reading the fleet -------------------------------------------------------
    def _clusters(self) -> list[str]:
        clusters = {target.cluster for target in self.targets.values()}
        if self.types is not None:
            clusters.add(self.types.registered.target.cluster)
        return sorted(clusters)

    def _list(self, cluster: str, desired: str) -> list[str]:
        paginator = self.ecs.get_paginator("list_tasks")

        def listing() -> list[str]:
            pages = paginator.paginate(cluster=cluster, startedBy=STARTED_BY, desiredStatus=desired)
            return [arn for page in pages for arn in page.get("taskArns", [])]

        # A throttled listing starts over: it is idempotent and cheap.
        return self._call("ListTasks", listing)

    def _describe(self, cluster: str, arns: Sequence[str]) -> Iterable[dict[str, Any]]:
        for start in range(0, len(arns), DESCRIBE_MAX):
            chunk = list(arns[start : start + DESCRIBE_MAX])
            request = partial(
                self.ecs.describe_tasks, cluster=cluster, tasks=chunk, include=["TAGS"]
            )
            response = self._call("DescribeTasks", request)
            yield from response.get("tasks", [])

    def fleet(self) -> Fleet:
        """Every cluster's tasks, read whole; FleetUnavailable if any read fails."""
        try:
            return self._read_fleet()
        except (BotoCoreError, ClientError) as error:
            raise FleetUnavailable(f"{type(error).__name__}: {error}") from error

    def _read_fleet(self) -> Fleet:
        workers: list[Worker] = []
        failures: list[LaunchFailure] = []
        lost: list[WorkerLost] = []
        judged: list[str] = []  # marked seen only once the whole read worked
        for cluster in self._clusters():
            running = self._list(cluster, "RUNNING")
            for task in self._describe(cluster, running):
                worker = to_worker(task)
                if worker is not None:
                    workers.append(worker)
            stopped = [
                arn for arn in self._list(cluster, "STOPPED") if arn not in self._seen_stopped
            ]
            for task in self._describe(cluster, stopped):
                if task.get("lastStatus") not in ("STOPPED", "DELETED"):
                    continue  # still stopping: looked at again next time
                judged.append(task["taskArn"])
                found = self._stopped(task)
                if isinstance(found, LaunchFailure):
                    failures.append(found)
                elif found is not None:
                    lost.append(found)
        if len(self._seen_stopped) > _SEEN_STOPPED_LIMIT:
            self._seen_stopped.clear()  # ECS forgets stopped tasks within the hour anyway
        self._seen_stopped.update(judged)
        return Fleet(workers=tuple(workers), failures=tuple(failures), lost=tuple(lost))

    def _stopped(self, task: Mapping[str, Any]) -> LaunchFailure | WorkerLost | None:
        """Judge a stopped task: a failed start, a lost worker, or a normal end."""
        job_type = tags_of(task).get(TAG_JOB_TYPE)
        stopped_at = task.get("stoppedAt")
        old = isinstance(stopped_at, datetime) and stopped_at < self.started_at
        if job_type is None or old:
            return None
        arn = task["taskArn"]
        reason = start_failure(task)
        if reason is not None:
            log.warning(
                "ECS task %s stopped before working: %s",
                arn,
                reason,
                extra={"action": "task_failed_to_start", "job_type": job_type},
            )
            return LaunchFailure(job_type=job_type, reason=reason, task_arn=arn)
        died = loss(task)
        return None if died is None else WorkerLost(job_type, died.reason, arn, died.platform)

    # -- launching ------------------------------------------------------------------
    def _target(self, job_type: str) -> EcsTarget:
        """The settings document's target, or a registered type's own task definition."""
        if job_type in self.targets:
            return self.targets[job_type]
        registered = self.run_of(job_type)
        if registered is None or registered.document["run"] is None:
            raise NotRunnable(f"job type {job_type} has no ECS target and no run spec")
        if self.types is None:
            raise NotRunnable(
                f"job type {job_type} is a registered type: the settings document needs"
                " registered.ecs (or SHOAL_ECS_BASE_TASK_DEFINITION) to run it"
            )
        arn = self.types.arn_for(registered)
        return replace(self.types.registered.target, task_definition=arn)

    def launch(self, job_type: str, count: int, generation: int = 0) -> LaunchResult:
        """RunTask in calls of at most 10; stops at the first refused call."""
        try:
            target = self._target(job_type)
        except NotRunnable as error:
            return LaunchResult(failures=(LaunchFailure(job_type, str(error)),))
        except (ClientError, BotoCoreError) as error:
            reason = f"task definition: {refusal(error)}"
            log.warning(
                "no task definition for %s: %s",
                job_type,
                reason,
                extra={"action": "task_definition_failed", "job_type": job_type},
            )
            return LaunchResult(failures=(LaunchFailure(job_type, reason),))
        launched: list[Worker] = []
        failures: list[LaunchFailure] = []
        remaining = count
        while remaining > 0:
            batch = min(RUN_TASK_MAX, remaining)
            remaining -= batch
            kwargs = run_task_kwargs(
                target,
                job_type,
                batch,
                api_url=self.api_url,
                holder=self.holder,
                generation=generation,
            )
            try:
                response = self._call("RunTask", partial(self.ecs.run_task, **kwargs))
            # A refusal, a dropped connection, a timeout: this type only.
            except (ClientError, BotoCoreError) as error:
                failures.append(LaunchFailure(job_type, refusal(error)))
                break
            launched.extend(w for w in map(to_worker, response.get("tasks", [])) if w)
            for failure in response.get("failures", []):
                reason = f"{failure.get('reason', 'unknown')}: {failure.get('detail', '')}"
                failures.append(LaunchFailure(job_type, reason.rstrip(": "), failure.get("arn")))
            if response.get("failures"):
                break  # more of the same would fail the same way; back off instead
        return LaunchResult(launched=tuple(launched), failures=tuple(failures))

    def stop(self, workers: Sequence[Worker], reason: str) -> None:
        for worker in workers:
            cluster = self._cluster_of(worker.job_types[0])
            if cluster is None:  # a type no longer configured: its cluster is unknown
                continue
            request = partial(
                self.ecs.stop_task, cluster=cluster, task=worker.task_arn, reason=reason[:255]
            )
            self._call("StopTask", request)

    def _cluster_of(self, job_type: str) -> str | None:
        if job_type in self.targets:
            return self.targets[job_type].cluster
        return None if self.types is None else self.types.registered.target.cluster

    def kill(self, workers: Sequence[Worker], reason: str) -> list[WorkerLost]:
        """StopTask each; its stop is judged here (counted: ECS cannot say why a task
        stopped answering), not again when it shows STOPPED."""
        lost: list[WorkerLost] = []
        for worker in workers:
            job_type = worker.job_types[0]
            cluster = self._cluster_of(job_type)
            if cluster is None:  # a type no longer configured: its cluster is unknown
                continue
            request = partial(
                self.ecs.stop_task,
                cluster=cluster,
                task=worker.task_arn,
                reason=reason[:255],
            )
            try:
                self._call("StopTask", request)
            except (BotoCoreError, ClientError) as error:  # tried again while it shows RUNNING
                log.warning(
                    "StopTask of %s failed: %s",
                    worker.task_arn,
                    error,
                    extra={"action": "stop_failed", "job_type": job_type},
                )
            self._seen_stopped.add(worker.task_arn)
            lost.append(WorkerLost(job_type, reason, worker.task_arn, platform=False))
        return lost

    def shutdown(self) -> None:
        """Tasks outlive the manager by design: they finish and exit by idle timeout."""
