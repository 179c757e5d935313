"""The fleet chaos run on ECS: the real manager against moto's ECS, served over HTTP.

    .venv/bin/python bench/chaos_fleet_ecs.py [--jobs 100] [--kill-for 120] [--deadline 180]

moto plays the ECS API (a threaded moto server in this process; the manager reaches it
through ``AWS_ENDPOINT_URL_ECS``), and :class:`FakeFargate` plays Fargate: for every
task the manager's RunTask created it starts a ``shoal worker`` process with the task's
environment overrides and a task metadata endpoint (so the worker claims as its task,
and the manager can match what the API hears from it), marks the task started, and
marks it STOPPED (with the worker's exit code) when the worker exits on its own or when
the manager stops it. The chaos stops tasks the ways the platform does: alternately a
host failure (exit 137) and a Spot interruption (``stopCode: SpotInterruption``), the
worker process killed with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from moto.moto_api import state_manager
from moto.server import ThreadedMotoServer

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import http.server
import json
import random
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench.chaos_fleet import (
    WORKER_ENV,
    FleetChaosPlan,
    manager_document,
    run_and_report,
    run_fleet_chaos,
)
from bench.harness import SHOAL, Platform, base_env

ACCOUNT, REGION, CLUSTER = "123456789012", "us-east-1", "shoal-chaos"
METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "chaos", "AWS_SECRET_ACCESS_KEY": "chaos", "AWS_REGION": REGION}


class FakeFargate:
    """Runs a worker process for every RUNNING moto task; reports their ends to moto."""

    def __init__(self, endpoint: str, root: Path) -> None:
        self.endpoint = endpoint
        self.root = root
        self.task_definition = ""
        self.worker_env: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.done: set[str] = set()
        self.kills = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-fargate", daemon=True)
        self.metadata = TaskMetadata()

    # -- the Fleet protocol ----------------------------------------------------
    def manager_env(self, platform: Platform, plan: FleetChaosPlan) -> dict[str, str]:
        self.start(platform.worker_key, platform.root / "work")
        target = {
            "ecs": {
                "taskDefinition": self.task_definition,
                "cluster": CLUSTER,
                "subnets": ["subnet-chaos"],
                "launchType": "FARGATE",
                "containerName": "worker",
            }
        }
        return {
            "SHOAL_COMPUTE_BACKEND": "ecs",
            "AWS_ENDPOINT_URL_ECS": self.endpoint,
            **AWS_ENV,
            **manager_document(plan, target),
        }

    def kill_one(self, manager: subprocess.Popen[bytes], rng: random.Random) -> bool:
        with self._lock:
            live = [arn for arn, proc in self.procs.items() if proc.poll() is None]
            if not live:
                return False
            arn = rng.choice(live)
            proc = self.procs.pop(arn)
            proc.kill()
            proc.wait(10)
            task = _tasks().get(arn)
            if task is not None:
                spot = self.kills % 2 == 1
                host = "Host EC2 (instance i-0chaos) terminated."
                _stop(task, 137, "Your Spot Task was interrupted." if spot else host)
                task.stop_code = "SpotInterruption" if spot else "EssentialContainerExited"
            self.done.add(arn)
            self.kills += 1
            return True

    # -- playing Fargate ----------------------------------------------------------
    def start(self, worker_key: str, work_dir: Path) -> None:
        """Run a worker, with this key, for each task the manager starts from now on."""
        self.worker_env = {
            **base_env(),
            **WORKER_ENV,
            "SHOAL_API_KEY": worker_key,
            "SHOAL_WORK_DIR": str(work_dir),
        }
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                self._step()

    def _step(self) -> None:
        for arn, task in list(_tasks().items()):
            if arn in self.done:
                continue
            if task.last_status == "RUNNING" and arn not in self.procs:
                self.procs[arn] = self._start(arn, task)
            elif task.last_status == "STOPPED" and arn in self.procs:
                self.procs.pop(arn).terminate()  # the manager's StopTask
                self.done.add(arn)
        for arn, proc in list(self.procs.items()):
            code = proc.poll()
            if code is not None:  # the worker ended on its own (idle, or a crash)
                del self.procs[arn]
                self.done.add(arn)
                task = _tasks().get(arn)
                if task is not None:
                    _stop(task, code if code >= 0 else 128 - code, "Essential container exited")

    def _start(self, arn: str, task: Any) -> subprocess.Popen[bytes]:
        overrides = task.overrides.get("containerOverrides", []) if task.overrides else []
        env = {**self.worker_env, METADATA_VARIABLE: self.metadata.uri(arn, CLUSTER)}
        for override in overrides:
            env.update({e["name"]: e["value"] for e in override.get("environment", [])})
        task.started_at = datetime.now(UTC)
        log = (self.root / "logs" / f"task-{arn.rsplit('/', 1)[-1]}.log").open("wb")
        with log:
            return subprocess.Popen(
                [SHOAL, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for proc in self.procs.values():
            proc.kill()
            proc.wait(10)
        self.metadata.close()


class TaskMetadata:
    """The ECS task metadata endpoint (v4) of every fake task: ``<uri>/task`` answers
    the task's ARN and cluster, as ECS does inside a task."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, str]] = {}
        tasks = self.tasks

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key, _, rest = self.path.strip("/").partition("/")
                found = tasks.get(key)
                body = json.dumps(found).encode()
                self.send_response(200 if found is not None and rest == "task" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def uri(self, task_arn: str, cluster: str) -> str:
        key = task_arn.rsplit("/", 1)[-1]
        self.tasks[key] = {"TaskARN": task_arn, "Cluster": cluster}
        return f"http://127.0.0.1:{self.server.server_port}/{key}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _tasks() -> dict[str, Any]:
    from moto.ecs.models import ecs_backends  # noqa: PLC0415 - ~0.7 s, only once a run started

    found: dict[str, Any] = ecs_backends[ACCOUNT][REGION].tasks.get(CLUSTER, {})
    return {task.task_arn: task for task in list(found.values())}


def _stop(task: Any, exit_code: int, reason: str) -> None:
    for container in task.containers:
        container.exitCode = exit_code
    task.stopped_reason = reason
    task.desired_status = "STOPPED"
    task.last_status = "STOPPED"


@contextmanager
def moto_fargate(root: Path) -> Iterator[FakeFargate]:
    """A moto ECS server with a cluster and a task definition, and Fargate to run it."""
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's state lives in this process: start from an empty account.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    fargate = FakeFargate(endpoint, root)
    try:
        ecs = boto3.client(
            "ecs",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
        )
        ecs.create_cluster(clusterName=CLUSTER)
        fargate.task_definition = ecs.register_task_definition(
            family="shoal-worker",
            networkMode="bridge",  # moto's tasks break on awsvpc; the manager still sends it
            containerDefinitions=[
                {"name": "worker", "image": "shoal/worker", "memory": 512, "cpu": 256}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        yield fargate
    finally:
        fargate.close()
        server.stop()
        state_manager.unset_transition(model_name="ecs::task")


def run_ecs_fleet_chaos(root: Path, plan: FleetChaosPlan) -> Any:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    with moto_fargate(root) as fargate:
        return run_fleet_chaos(root, plan, fargate)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--kill-for", type=float, default=120.0)
    parser.add_argument("--deadline", type=float, default=180.0)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep its logs")
    args = parser.parse_args()
    plan = FleetChaosPlan(jobs=args.jobs, kill_for=args.kill_for, deadline=args.deadline)
    run_and_report(
        args.keep, "ecs-", "ECS on a moto server", lambda root: run_ecs_fleet_chaos(root, plan)
    )


if __name__ == "__main__":
    main()
