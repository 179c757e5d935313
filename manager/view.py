"""The fleet as the manager last read it whole, for ticks when the backend cannot be read.

A tick whose read fails (ECS unreachable, ListTasks or DescribeTasks refused) still
acts on known demand, on a partial view: the workers of the last whole read plus
those launched since. Workers still starting count in it, so demand they cover is
not launched for again; the fleet report says the view is stale, and how old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from manager.api import FleetReading
from manager.backends.base import Fleet, Worker


@dataclass
class FleetView:
    workers: tuple[Worker, ...] = ()
    read_at: datetime | None = None  # the last whole read (None: never)
    launched: list[Worker] = field(default_factory=list)  # launched since that read
    error: str | None = None  # why the latest read failed (None: it worked)

    @property
    def stale(self) -> bool:
        return self.error is not None

    @property
    def blind(self) -> bool:
        """Never read whole: a launch could double what it cannot see."""
        return self.read_at is None

    def read(self, fleet: Fleet, at: datetime) -> Fleet:
        """A whole read: it is the view from now on."""
        self.workers, self.read_at, self.launched, self.error = fleet.workers, at, [], None
        return fleet

    def partial(self, error: str) -> Fleet:
        """The last whole read plus what was launched since."""
        self.error = error
        seen = {worker.task_arn for worker in self.workers}
        return Fleet(workers=(*self.workers, *(w for w in self.launched if w.task_arn not in seen)))

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the last whole read while stale; 0 while reads work."""
        if not self.stale or self.read_at is None:
            return 0.0
        return max(0.0, (now - self.read_at).total_seconds())

    def reading(self) -> FleetReading:
        return FleetReading(stale=self.stale, read_at=self.read_at, error=self.error)
