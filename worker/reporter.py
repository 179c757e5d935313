"""Results that finish close together go to the API together, and bring the next jobs.

The first job to finish waits ``window`` seconds (a few milliseconds) for others; then
all the results gathered go in one request (the batch route for several, the single
route for one), each answered on its own. The request also claims as many jobs as it
reports (``next``): each new job takes the slot of a finished one, so a busy worker
spends one request per job, or one per batch, instead of a claim and a result each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.client import ApiError, Claim, ShoalClient, claims_of, result_body

log = logging.getLogger("worker.reporter")
# What the batch route takes at most.
MAX_RESULTS = 50
# How long the first finished job waits for others to finish.
WINDOW_SECONDS = 0.005

# (number of results) → the claim body of their ``next``, or None: claim nothing.
NextClaim = Callable[[int], Mapping[str, Any] | None]
# (claims that came, the assignment ids of the results that brought them)
TakeClaims = Callable[[list[Claim], list[int]], None]


@dataclass
class _Result:
    body: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None
    error: BaseException | None = None


@dataclass
class _Gathering:
    results: list[_Result] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)


def _claim_nothing(count: int) -> None:
    return None


def _take_nothing(claims: list[Claim], finished: list[int]) -> None:
    return None


class ResultReporter:
    def __init__(
        self,
        client: ShoalClient,
        *,
        window: float = WINDOW_SECONDS,
        max_results: int = MAX_RESULTS,
        next_claim: NextClaim = _claim_nothing,
        take_claims: TakeClaims = _take_nothing,
    ) -> None:
        """A request carries at most ``max_results``. ``take_claims`` runs before the
        results' submitters are answered, so a finished job's slot can pass to a new one
        before the job lets it go."""
        self.client = client
        self.window = window
        self.max_results = max_results
        self._next_claim = next_claim
        self._take_claims = take_claims
        self._lock = threading.Lock()
        self._gathering = _Gathering()

    def submit(
        self,
        assignment_id: int,
        status: str,
        result_payload: Mapping[str, Any] | None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Report one outcome, with whatever else finishes within the window; returns
        its answer (``{"job": ...}``). Raises ApiError when it was refused, and
        ApiUnavailable when the request failed (it may be tried again)."""
        mine = _Result(
            {"assignmentId": assignment_id, **result_body(status, result_payload, error)}
        )
        with self._lock:
            gathering = self._gathering
            gathering.results.append(mine)
            leads = len(gathering.results) == 1
            if len(gathering.results) >= self.max_results:
                gathering.full.set()
                self._gathering = _Gathering()
        if leads:
            if self.window > 0:
                gathering.full.wait(self.window)
            with self._lock:
                if self._gathering is gathering:
                    self._gathering = _Gathering()
            self._send(gathering.results)
        mine.done.wait()
        if mine.error is not None:
            raise mine.error
        assert mine.answer is not None
        return mine.answer

    def _send(self, results: list[_Result]) -> None:
        try:
            claim = self._next_claim(len(results))
            answer = self.client.submit_results([r.body for r in results], claim)
            if claim is not None:
                finished = [r.body["assignmentId"] for r in results]
                self._take_claims(claims_of(answer.get("next"), len(results)), finished)
            for result, answered in zip(results, answer["results"], strict=True):
                if answered["status"] == 200:
                    result.answer = {"job": answered["job"]}
                else:
                    status, message = answered["status"], answered.get("message")
                    result.error = ApiError(status, message, answered.get("errors"))
        except BaseException as error:  # every submitter learns it, none waits forever
            for result in results:
                if result.answer is None and result.error is None:
                    result.error = error
        finally:
            for result in results:
                result.done.set()
        if len(results) > 1:
            log.debug("results reported together", extra={"action": "results_reported"})
