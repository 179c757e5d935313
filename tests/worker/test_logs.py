from __future__ import annotations

import io
import json
import logging

from shared.logs import BoundLogger, configure_logging


def test_json_lines_carry_the_extra_fields() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("INFO", stream=stream)
        configure_logging("INFO", stream=stream)  # again: still one line per record
        logging.getLogger("worker.test").info(
            "job %s started", 7, extra={"action": "job_started", "job_id": 7}
        )
        logging.getLogger("worker.test").debug("hidden")
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    [line] = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["message"] == "job 7 started"
    assert (entry["action"], entry["job_id"], entry["level"]) == ("job_started", 7, "INFO")
    assert entry["logger"] == "worker.test" and entry["ts"].endswith("+00:00")


def test_bound_fields_merge_with_each_call() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("INFO", stream=stream)
        log = BoundLogger(logging.getLogger("worker.test"), {"job_id": 3, "assignment_id": 9})
        log.info("reported", extra={"action": "job_reported"})
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    entry = json.loads(stream.getvalue())
    assert (entry["job_id"], entry["assignment_id"], entry["action"]) == (3, 9, "job_reported")
