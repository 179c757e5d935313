"""Routing a handler's logs, prints and subprocess output into its job's log buffer."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from worker.capture import JobSink, run_logged
from worker.joblog import LogBuffer


def _lines(buffer: LogBuffer) -> list[tuple[str, str, str]]:
    out = []
    while (batch := buffer.take()) is not None:
        out += [(line.stream, line.level, line.message) for line in batch.lines]
    return out


# Run in a child process: pytest swaps sys.stdout and descriptors 1/2 between phases.
PRELUDE = """
import json, logging, os, subprocess, sys, threading
from worker.capture import JobSink, OutputCapture
from worker.joblog import LogBuffer

logging.getLogger().setLevel(logging.INFO)
capture = OutputCapture()
capture.install(fds=True)

def lines(buffer):
    out = []
    while (batch := buffer.take()) is not None:
        out += [(line.stream, line.level, line.message) for line in batch.lines]
    return out

def report(value):
    capture.uninstall()
    print(json.dumps(value))
"""


def _in_child(body: str) -> object:
    script = PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_logs_prints_and_a_subprocess_come_back_in_order() -> None:
    lines = _in_child(
        """
        buffer = LogBuffer(1024 * 1024)
        with capture.attach(JobSink(buffer)):
            logging.getLogger("handler").info("one %d", 1)
            print("two")
            subprocess.run([sys.executable, "-c", "print('three')"], check=True)
            subprocess.run(["sh", "-c", "echo four >&2"], check=True)
            logging.getLogger("handler").warning("five")
            sys.stdout.buffer.write(b"bytes\\n")
            sys.stderr.write("six, without an end")
        logging.getLogger("handler").info("after the job")
        # Written straight to the descriptor (as C code does), then at once from Python.
        with capture.attach(JobSink(buffer)):
            for n in range(300):
                os.write(1, f"fd {n}\\n".encode())
                print(f"py {n}")
        print("after the job")
        report(lines(buffer))
        """
    )
    assert lines == [
        ["log", "INFO", "one 1"],
        ["stdout", "INFO", "two"],
        ["stdout", "INFO", "three"],
        ["stderr", "INFO", "four"],
        ["log", "WARNING", "five"],
        ["stdout", "INFO", "bytes"],
        ["stderr", "INFO", "six, without an end"],
    ] + [["stdout", "INFO", f"{kind} {n}"] for n in range(300) for kind in ("fd", "py")]


def test_with_two_jobs_each_gets_its_own_threads_output() -> None:
    got = _in_child(
        """
        buffers = [LogBuffer(1024 * 1024), LogBuffer(1024 * 1024)]
        both_in = threading.Barrier(2)

        def job(index):
            with capture.attach(JobSink(buffers[index])):
                both_in.wait(5)
                for n in range(3):
                    print(f"job {index} line {n}")
                    logging.getLogger("h").info(f"job {index} record {n}")
                both_in.wait(5)

        threads = [threading.Thread(target=job, args=(i,), name=f"job-{i}") for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        report([[m for _, _, m in lines(b)] for b in buffers])
        """
    )
    assert got == [
        [f"job {i} {kind} {n}" for n in range(3) for kind in ("line", "record")] for i in range(2)
    ]


def test_a_line_without_end_is_cut_and_memory_stays_bounded() -> None:
    got = _in_child(
        """
        buffer = LogBuffer(256 * 1024)
        with capture.attach(JobSink(buffer)):
            for _ in range(64):
                sys.stdout.write("z" * 65536)  # 4 MiB, one line
            print(" end")
            print("next")
        report(lines(buffer))
        """
    )
    assert isinstance(got, list) and len(got) == 2
    assert len(got[0][2].encode()) <= 16 * 1024 and got[0][2].endswith("[truncated]")
    assert got[1][2] == "next"


def test_run_logged_pipes_a_commands_output_into_the_log() -> None:
    sink = JobSink(LogBuffer(1024 * 1024))
    code = run_logged(["sh", "-c", "echo out; echo err >&2; exit 3"], sink.write, check=False)
    sink.close()
    assert code == 3
    assert sorted(_lines(sink.buffer)) == [("stderr", "INFO", "err"), ("stdout", "INFO", "out")]
    with pytest.raises(subprocess.CalledProcessError):
        run_logged(["false"], sink.write)
