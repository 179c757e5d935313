"""The job-log buffer's bound and the shipper's reactions to each answer (the server is
scripted here; the real web API's side is in test_job_logs.py and tests/e2e)."""

from __future__ import annotations

import logging

from shared.client import ShoalClient
from tests.shared.client.scripted_server import Reply, ScriptedServer
from worker.joblog import (
    LINE_OVERHEAD,
    MAX_BATCH_LINES,
    MAX_MESSAGE_BYTES,
    LogBuffer,
    LogShipper,
    level_name,
    truncate,
)

PATH = "/api/jobs/assignments/4/logs"
LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


def _drain(buffer: LogBuffer) -> tuple[list[int], int]:
    seqs, dropped = [], 0
    while (batch := buffer.take()) is not None:
        seqs += [line.seq for line in batch.lines]
        dropped += batch.dropped_lines
    return seqs, dropped


def test_past_its_bound_the_buffer_keeps_the_newest_lines_and_counts_the_rest() -> None:
    bound = 64 * 1024
    buffer = LogBuffer(bound)
    for n in range(10_000):
        buffer.add("INFO", "stdout", f"line {n:05d} " + "x" * 1000)
        assert buffer._bytes <= bound
    seqs, dropped = _drain(buffer)
    assert seqs == list(range(10_000 - len(seqs), 10_000))  # the tail, in order
    assert dropped == 10_000 - len(seqs)
    assert len(seqs) == bound // (1011 + LINE_OVERHEAD)
    assert buffer.take() is None  # the drops were reported once


def test_a_batch_fits_one_request() -> None:
    buffer = LogBuffer(8 * 1024 * 1024)
    for _ in range(2500):
        buffer.add("INFO", "log", "short")
    sizes = []
    while (batch := buffer.take()) is not None:
        sizes.append(len(batch.lines))
    assert sizes == [MAX_BATCH_LINES, MAX_BATCH_LINES, 500]


def test_an_undelivered_batch_goes_back_in_front() -> None:
    buffer = LogBuffer(1024 * 1024)
    for n in range(5):
        buffer.add("INFO", "log", f"{n}")
    batch = buffer.take()
    assert batch is not None
    buffer.add("INFO", "log", "5")
    buffer.put_back(batch)
    assert _drain(buffer) == ([0, 1, 2, 3, 4, 5], 0)


def test_long_lines_are_cut_to_the_limit_in_utf8_bytes() -> None:
    cut = truncate("é" * MAX_MESSAGE_BYTES)
    assert len(cut.encode()) <= MAX_MESSAGE_BYTES and cut.endswith("[truncated]")
    assert truncate("short") == "short"
    assert level_name(logging.WARNING) == "WARNING" and level_name(25) == "INFO"


def _shipper(client: ShoalClient, buffer: LogBuffer) -> LogShipper:
    return LogShipper(client, 4, buffer, interval=0.05, logger=LOG)


def test_lines_refused_for_a_moment_are_sent_again_with_the_same_seq(
    server: ScriptedServer, client: ShoalClient
) -> None:
    server.on("POST", PATH, Reply(503), Reply(200, {"stored": 3, "cut": False}))
    buffer = LogBuffer(1024 * 1024)
    for n in range(3):
        buffer.add("INFO", "log", f"line {n}")
    shipper = _shipper(client, buffer)
    shipper.start()
    assert shipper.close(timeout=10)
    first, second = (r.body for r in server.requests)
    assert first == second
    assert [line["seq"] for line in second["lines"]] == [0, 1, 2]
    assert shipper.sent == 3


def test_drops_are_reported_with_the_next_batch(
    server: ScriptedServer, client: ShoalClient
) -> None:
    server.on("POST", PATH, Reply(200, {"stored": 1, "cut": False}))
    buffer = LogBuffer(64 * 1024)
    for _ in range(200):
        buffer.add("INFO", "stdout", "y" * 1000)
    shipper = _shipper(client, buffer)
    shipper.start()
    assert shipper.close(timeout=10)
    body = server.requests[0].body
    kept = len(body["lines"])
    assert body["dropped"] == {"lines": 200 - kept, "bytes": 1000 * (200 - kept)}
    assert "dropped" not in server.requests[-1].body or len(server.requests) == 1


def test_a_refusal_stops_shipping_without_failing(
    server: ScriptedServer, client: ShoalClient
) -> None:
    server.on("POST", PATH, Reply(409, {"message": "Assignment 4 is over"}))
    buffer = LogBuffer(1024 * 1024)
    buffer.add("INFO", "log", "late")
    shipper = _shipper(client, buffer)
    shipper.start()
    assert shipper.close(timeout=5)
    buffer.add("INFO", "log", "later")
    assert len(server.requests) == 1
