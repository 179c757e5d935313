"""Reading an event stream over real HTTP on a thread, so a test waits with a timeout."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import httpx

from shared.client import parse_sse
from shared.client.sse import ServerSentEvent

Event = tuple[str, object]


class RawStream:
    """One connection to a job's events, read on a thread: its lines, its events, its end."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.events: queue.Queue[ServerSentEvent] = queue.Queue()
        self.closed = threading.Event()
        self._leaving = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.Client(timeout=60) as http, http.stream("GET", url, headers=headers) as r:
                for event in parse_sse(self._keep(r.iter_lines())):
                    self.events.put(event)
        except httpx.TransportError as error:  # e.g. a chunk cut off by a dying server
            self.events.put(ServerSentEvent("cut", f"{type(error).__name__}: {error}"))
        finally:
            self.closed.set()

    def _keep(self, lines: Iterator[str]) -> Iterator[str]:
        for line in lines:  # keep-alives come often: a close takes effect at the next
            if self._leaving.is_set():
                return
            self.lines.append(line)
            yield line

    def next_event(self) -> ServerSentEvent:
        event = self.events.get(timeout=30)
        assert isinstance(event.data, dict), event
        return event

    def next(self) -> tuple[str, dict]:
        event = self.next_event()
        return event.event, event.data

    def rest(self) -> list[Event]:
        """Every event until the server ends the stream."""
        assert self.closed.wait(30), "the stream did not end"
        events = [self.events.get_nowait() for _ in range(self.events.qsize())]
        return [(event.event, event.data) for event in events]

    def close(self) -> None:
        """Hang up, as a client that loses its connection."""
        self._leaving.set()
        assert self.closed.wait(30), "the stream did not close"
