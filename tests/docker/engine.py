"""A container engine (podman or docker) driven through its command line, for the image check.

``find_engine()`` says why there is none instead of raising, so the check can skip with
that reason. Builds and runs use the host's network: the build's pip reaches the package
index as this machine does, and the containers reach the test's PostgreSQL and S3 on
127.0.0.1 like processes would.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 900.0


def tag(name: str) -> str:
    """``localhost/NAME:check-<this checkout>``: several checkouts on one machine can run
    the check at once without running each other's images, and each keeps its cache."""
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]
    return f"localhost/{name}:check-{checkout}"


def base_image() -> str:
    """The FROM image the Dockerfiles default to (their ``ARG PYTHON_IMAGE``), one for all."""
    images: set[str] = set()
    for path in (ROOT / "docker").glob("*.Dockerfile"):
        text = path.read_text(encoding="utf-8")
        images.update(re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.MULTILINE))
    [image] = images
    return image


@dataclass
class Engine:
    program: str
    containers: list[str] = field(default_factory=list)
    # Host directories every container sees at the same path (a database's socket).
    mounts: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """Run ``program args``; its stdout (its output in the error when it fails)."""
        done = subprocess.run(
            [self.program, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.program} {' '.join(args[:3])} exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def has_image(self, image: str) -> bool:
        done = subprocess.run(
            [self.program, "image", "inspect", image], capture_output=True, timeout=60, check=False
        )
        return done.returncode == 0

    def build(self, dockerfile: str, tag: str, *build_args: str) -> None:
        args = ["build", "--network", "host", "-f", f"docker/{dockerfile}", "-t", tag]
        if Path(self.program).name == "podman":
            args += ["--format", "docker"]  # keeps the HEALTHCHECK (OCI has none)
        for build_arg in build_args:
            args += ["--build-arg", build_arg]
        self.run(*args, str(ROOT), timeout=BUILD_TIMEOUT)

    def start(self, image: str, *command: str, env: dict[str, str], init: bool = False) -> str:
        """Start a detached container on the host's network; its name."""
        name = f"shoal-check-{uuid.uuid4().hex[:8]}"
        args = ["run", "-d", "--name", name, *(["--init"] if init else [])]
        self.containers.append(name)
        self.run(*args, *self._options(env), image, *command)
        return name

    def once(self, image: str, *command: str, env: dict[str, str]) -> str:
        """Run a command in a fresh container to its end; its stdout."""
        return self.run("run", "--rm", *self._options(env), image, *command)

    def _options(self, env: dict[str, str]) -> list[str]:
        # The test checks health itself; podman would want systemd timers for HEALTHCHECK.
        args = ["--network", "host", "--no-healthcheck"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        for path in self.mounts:
            args += ["-v", f"{path}:{path}"]
        return args

    def running(self, name: str) -> bool:
        state = self.run("inspect", "--format", "{{.State.Running}}", name, check=False)
        return state.strip() == "true"

    def logs(self, name: str) -> str:
        done = subprocess.run(
            [self.program, "logs", name], capture_output=True, text=True, timeout=60, check=False
        )
        return done.stdout + done.stderr

    def remove_all(self) -> None:
        for name in self.containers:
            self.run("rm", "-f", "-t", "5", name, check=False, timeout=60)
        self.containers.clear()


def find_engine() -> tuple[Engine | None, str]:
    """An engine that answers and has the base image (or can pull it), or why not."""
    wanted = os.environ.get("SHOAL_CONTAINER_ENGINE")
    names = [wanted] if wanted else ["podman", "docker"]
    found = [path for name in names if (path := shutil.which(name))]
    if not found:
        return None, f"no container engine here ({' or '.join(names)} not on PATH)"
    engine = Engine(found[0])
    try:
        engine.run("info", timeout=60)
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        return None, f"{found[0]} does not answer `info`: {str(exc)[:300]}"
    image = base_image()
    if not engine.has_image(image) and not _pulled(engine, image):
        return None, (
            f"the base image {image} is neither local nor pullable here "
            "(scripts/standin-base builds a stand-in; see docs/containers.md)"
        )
    return engine, ""


def _pulled(engine: Engine, image: str) -> bool:
    try:
        engine.run("pull", image, timeout=300)
    except (AssertionError, subprocess.TimeoutExpired):
        return False
    return True
