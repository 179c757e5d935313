"""The manager's tick: hold the lease, read demand and fleet, launch, report.

Every tick starts from what the API and the backend say now; the only memory kept
between ticks is per job type: when it last launched (cooldown), how many
launches in a row failed (backoff) and how many workers that had run were lost
since (replaced at once, cooldown or not). Losing all three on restart is safe:
the fleet, read back from the backend, already counts the workers still starting.

A launch failed only when its worker never came up; a worker that ran and then
died (a signal, an OOM kill, a Spot interruption) is not the fleet's fault: it is
replaced at the next tick with no backoff. A job that kills its worker every time
is bounded by its own attempts. A worker the API stopped hearing from (frozen, cut
off) is killed and replaced the same way. Every lost worker is declared to the API
with why, so the attempts it held end at once (not counted when the platform took
the worker).

A tick that cannot read the backend goes on with a partial view (manager/view.py)
and reports the fleet as stale; when ticks keep failing for twice the lease, the
manager gives the lease up and stands aside for one lease, so a manager that can
read the backend may take over.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from manager.api import ComputeConfig, ManagerApi, TypeDemand
from manager.backends.base import (
    ComputeBackend,
    Fleet,
    FleetUnavailable,
    Worker,
    WorkerLost,
    WorkerStatus,
)
from manager.lost import LostWorkers, SilenceWatch
from manager.metrics import ManagerMetrics
from manager.policy import Observation, ScalingPolicy, backoff_seconds, in_cooldown, launch_count
from manager.registered import RegisteredTypes
from manager.settings import ManagerSettings
from manager.targets import JobTypeConfig
from manager.view import FleetView
from shared.errors import ShoalError

log = logging.getLogger(__name__)
HEALTHY_AFTER_SECONDS = 60.0  # a worker up this long clears its type's launch backoff
API_ERRORS = (ShoalError, httpx.HTTPError)
GIVE_UP_AFTER_LEASES = 2.0  # failing ticks for this many lease lengths: give the lease up


@dataclass
class TypeState:
    last_launch: float | None = None
    failures: int = 0
    retry_at: float = 0.0
    replacements: int = 0  # lost workers not yet replaced


@dataclass
class TickOutcome:
    held: bool
    launched: dict[str, int] = field(default_factory=dict)
    workers: tuple[Worker, ...] = ()
    stale: bool = False  # the backend could not be read: a partial view


class Manager:
    def __init__(
        self,
        settings: ManagerSettings,
        api: ManagerApi,
        backend: ComputeBackend,
        *,
        holder: str,
        metrics: ManagerMetrics | None = None,
        registered: RegisteredTypes | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.api = api
        self.backend = backend
        self.holder = holder
        self.metrics = metrics or ManagerMetrics()
        self.registered = registered  # None: the settings document's types only
        self.clock = clock
        self.wall = wall
        self.types = {name: TypeState() for name in settings.job_types}
        self.unconfigured: set[str] = set()
        self.generation: int | None = None
        self.held = False
        self.failed_total = 0
        self.view = FleetView()
        self.silence = SilenceWatch(settings.silent_seconds, clock)
        self.lost = LostWorkers(api, backend, self.silence, self._lost, wall)
        self.failing_since: float | None = None  # the first of the ticks failing in a row
        self.aside_until = 0.0  # gave the lease up: no renewal before this

    # -- the lease ---------------------------------------------------------
    def renew(self) -> bool:
        """Take or renew the lease; an unreachable API means not held, this tick."""
        if self.clock() < self.aside_until:
            return False  # gave it up: another manager may take it
        try:
            lease = self.api.acquire(self.holder, self.settings.lease_seconds)
            held = lease.held
        except API_ERRORS as error:
            log.warning("lease renewal failed: %s", error, extra={"action": "lease_error"})
            self.silence.api_failed()
            held = False
        else:
            self.silence.api_answered()
        if held != self.held:
            action = "lease_acquired" if held else "lease_lost"
            log.info("%s (%s)", action, self.holder, extra={"action": action})
        self.held = held
        self.metrics.lease_held.set(1 if held else 0)
        return held

    def release(self) -> None:
        if not self.held:
            return
        try:
            self.api.release(self.holder)
        except API_ERRORS as error:
            log.warning("lease release failed: %s", error, extra={"action": "lease_error"})
        self.held = False
        self.metrics.lease_held.set(0)

    # -- one tick ----------------------------------------------------------
    def tick(self) -> TickOutcome:
        if not self.renew():
            return TickOutcome(held=False)
        job_types = self._job_types()
        fleet = self._read_fleet()
        self._record_failures(fleet)
        workers = self.lost.drop_silent(list(fleet.workers))
        if self.held:  # before reading demand: their jobs are pending again
            self.lost.declare(self.holder)
        try:
            demand = self.api.demand()
            config = self.api.config() if self.backend.name == "local" else None
        except API_ERRORS:
            self.silence.api_failed()
            raise
        workers, budget = self._apply_admin(config, workers)
        if self.view.blind:
            budget = 0  # never read whole: what is running is unknown
        launched: dict[str, int] = {}
        for name in sorted(demand, key=lambda n: -demand[n].pending):
            if name not in job_types:
                self._unconfigured(name, demand[name])
        for name in sorted(job_types, key=lambda n: -_pending(demand, n)):
            policy = job_types[name].policy
            count = self._decide(name, policy, demand.get(name, TypeDemand(0, 0)), workers)
            if budget is not None:
                count = min(count, budget)
                budget -= count
            if count > 0:
                new = self._launch(name, count)
                workers.extend(new)
                launched[name] = len(new)
        stale = self.view.stale
        if not self.held:  # lost at a launch: the new holder reports
            return TickOutcome(False, launched, tuple(workers), stale)
        self.api.report(self.holder, workers, self.failed_total, self.view.reading())
        self.metrics.observe_fleet(job_types, workers)
        self._settle(failed=stale)
        return TickOutcome(held=True, launched=launched, workers=tuple(workers), stale=stale)

    def tick_failed(self) -> None:
        """A tick raised (the loop logged it): it counts towards giving the lease up."""
        self._settle(failed=True)

    def _read_fleet(self) -> Fleet:
        """The fleet, read whole, or the partial view when the backend cannot be read."""
        try:
            fleet = self.view.read(self.backend.fleet(), self.wall())
        except FleetUnavailable as error:
            self.metrics.fleet_read_errors.inc()
            log.warning(
                "cannot read the fleet; going on with the last one read: %s",
                error,
                extra={"action": "fleet_read_error"},
            )
            fleet = self.view.partial(str(error))
        self.metrics.fleet_view_age.set(self.view.age_seconds(self.wall()))
        return fleet

    def _settle(self, *, failed: bool) -> None:
        """Count ticks failing in a row; past twice the lease, give the lease up."""
        now = self.clock()
        if not failed:
            self.failing_since = None
            return
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since <= GIVE_UP_AFTER_LEASES * self.settings.lease_seconds:
            return
        self.failing_since = None
        if self.held:
            log.warning(
                "ticks keep failing; giving the lease up for %.0f s",
                self.settings.lease_seconds,
                extra={"action": "lease_given_up"},
            )
            self.release()
            self.aside_until = now + self.settings.lease_seconds

    def _job_types(self) -> dict[str, JobTypeConfig]:
        """The settings document's types and the registered types that run (read now; the
        document wins for a name in both)."""
        if self.registered is None:
            return dict(self.settings.job_types)
        if not self.registered.refresh(self.api.client):
            self.metrics.job_types_read_errors.inc()
        found = {**self.registered.configs(), **self.settings.job_types}
        for name in found.keys() - self.types.keys():
            self.types[name] = TypeState()
        return found

    def _decide(
        self, name: str, policy: ScalingPolicy, demand: TypeDemand, workers: Sequence[Worker]
    ) -> int:
        """How many to launch for one type now, after cooldown and backoff."""
        mine = [w for w in workers if w.live and name in w.job_types]
        seen = Observation(
            pending=demand.pending,
            in_progress=demand.in_progress,
            starting=sum(w.status is WorkerStatus.STARTING for w in mine),
            running=sum(w.status is WorkerStatus.RUNNING for w in mine),
        )
        wanted = launch_count(seen, policy)
        state = self.types[name]
        now = self.clock()
        if wanted == 0:
            state.replacements = 0  # nothing to replace them for
            return 0
        if now < state.retry_at:
            return 0
        if in_cooldown(now, state.last_launch, policy):
            return min(wanted, state.replacements)
        return wanted

    def _launch(self, name: str, count: int) -> list[Worker]:
        # The tick's AWS calls may have taken long: launch only while the lease is ours.
        if not self.renew():
            log.warning(
                "lease not held at launch time; not launching %s",
                name,
                extra={"action": "launch_skipped", "job_type": name},
            )
            return []
        result = self.backend.launch(name, count, self.generation or 0)
        self.view.launched.extend(result.launched)
        state = self.types[name]
        state.last_launch = self.clock()
        state.replacements = max(0, state.replacements - len(result.launched))
        self.metrics.launches.labels(name).inc(len(result.launched))
        log.info(
            "launched %d of %d %s workers",
            len(result.launched),
            count,
            name,
            extra={"action": "launch", "job_type": name, "count": len(result.launched)},
        )
        self._record_failures(Fleet(failures=result.failures))
        return list(result.launched)

    def _record_failures(self, fleet: Fleet) -> None:
        """One backoff step per job type per batch of failures; healthy workers clear it.

        A lost worker had come up, so its type's launches work: no backoff, any
        backoff cleared, and a replacement is due.
        """
        now = self.clock()
        for gone in fleet.lost:
            self._lost(gone)
        failed = {f.job_type for f in fleet.failures if f.job_type in self.types}
        for failure in fleet.failures:
            self.failed_total += 1
            self.metrics.launch_failures.labels(failure.job_type).inc()
            log.warning(
                "launch of %s failed: %s",
                failure.job_type,
                failure.reason,
                extra={"action": "launch_failed", "job_type": failure.job_type},
            )
        for name in failed:
            state = self.types[name]
            state.failures += 1
            state.retry_at = now + backoff_seconds(state.failures)
        for name, state in self.types.items():
            if name not in failed and state.failures and self._healthy(name, fleet.workers):
                state.failures, state.retry_at = 0, 0.0

    def _lost(self, gone: WorkerLost) -> None:
        """A worker that had come up is gone: replace it at once, and tell the API."""
        log.warning(
            "worker %s of %s was lost: %s; replacing it",
            gone.task_arn,
            gone.job_type,
            gone.reason,
            extra={
                "action": "worker_lost",
                "job_type": gone.job_type,
                "task_arn": gone.task_arn,
                "platform": gone.platform,
            },
        )
        self.lost.lost(gone)
        if gone.job_type in self.types:
            self.metrics.workers_lost.labels(gone.job_type).inc()
            state = self.types[gone.job_type]
            state.replacements += 1
            state.failures, state.retry_at = 0, 0.0

    def _healthy(self, name: str, workers: Sequence[Worker]) -> bool:
        now = self.wall()
        return any(
            w.status is WorkerStatus.RUNNING
            and name in w.job_types
            and (now - w.started_at).total_seconds() >= HEALTHY_AFTER_SECONDS
            for w in workers
        )

    def _apply_admin(
        self, config: ComputeConfig | None, workers: list[Worker]
    ) -> tuple[list[Worker], int | None]:
        """Local backend: redeploy old generations, hold to desiredCount; returns the budget."""
        if config is None:
            return workers, None
        if self.generation is not None and config.generation != self.generation:
            log.info("redeploying local workers", extra={"action": "redeploy"})
        self.generation = config.generation
        old = [w for w in workers if w.live and w.generation != self.generation]
        workers = self._stop(workers, old, "redeploy")
        if config.desired_count is None:
            return workers, None
        live = sorted((w for w in workers if w.live), key=lambda w: w.started_at)
        excess = live[config.desired_count :]
        workers = self._stop(workers, excess, f"desiredCount is {config.desired_count}")
        return workers, max(0, config.desired_count - len(live))

    def _stop(self, workers: list[Worker], chosen: list[Worker], reason: str) -> list[Worker]:
        if not chosen:
            return workers
        self.backend.stop(chosen, reason)
        arns = {w.task_arn for w in chosen}
        stopping = WorkerStatus.STOPPING
        return [
            dataclasses.replace(w, status=stopping) if w.task_arn in arns else w for w in workers
        ]

    def _unconfigured(self, name: str, demand: TypeDemand) -> None:
        if demand.pending > 0 and name not in self.unconfigured:
            self.unconfigured.add(name)
            log.warning(
                "job type %s has pending jobs but no manager configuration",
                name,
                extra={"action": "unconfigured_job_type", "job_type": name},
            )

    def close(self) -> None:
        """Release the lease and stop what runs on this machine."""
        self.release()
        self.backend.shutdown()
        self.metrics.close()


def _pending(demand: dict[str, TypeDemand], name: str) -> int:
    found = demand.get(name)
    return found.pending if found else 0


def run(manager: Manager, stop: threading.Event, tick_seconds: float) -> None:
    """Tick until ``stop`` is set; a failed tick is logged and the loop goes on."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            manager.tick()
        except Exception:
            manager.metrics.tick_errors.inc()
            log.exception("tick failed", extra={"action": "tick_error"})
            manager.tick_failed()
        stop.wait(max(0.0, tick_seconds - (time.monotonic() - started)))
