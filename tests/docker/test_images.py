"""The images build and run: the web API image answers health over a real PostgreSQL, and
a local-backend manager image runs one TEST job end to end, its result file in S3.

Like docker-compose.yml, minus what cannot be pulled everywhere: the test's own embedded
PostgreSQL and a moto S3 server stand in for the postgres and MinIO containers, reached
on 127.0.0.1 over the host's network. Skipped, with the reason, where no container engine
answers (docs/containers.md sets up rootful podman and a stand-in base image).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy.engine import make_url

from shared.client import ShoalClient
from shared.client.health import wait_healthy
from tests.docker.engine import Engine, find_engine, tag
from tests.e2e.helpers import job_in, wait_for
from tests.e2e.live import free_port, jwt_pems

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WEBAPI = tag("shoal-webapi")
MANAGER = tag("shoal-manager-local")
WORKER = tag("shoal-worker")
ADMIN = "image-check@example.org"
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    found, reason = find_engine()
    if found is None:
        pytest.skip(reason)
    try:
        yield found
    finally:
        found.remove_all()


@pytest.fixture(scope="module")
def images(engine: Engine) -> dict[str, float]:
    """Build the three images as docker-compose.yml does; seconds each build took."""
    seconds = {}
    for image, dockerfile, args in [
        (WEBAPI, "webapi.Dockerfile", ()),
        (MANAGER, "manager.Dockerfile", ("EXTRAS=manager,worker",)),
        (WORKER, "worker.Dockerfile", ()),
    ]:
        started = time.monotonic()
        engine.build(dockerfile, image, *args)
        seconds[image] = round(time.monotonic() - started, 1)
    print(f"image builds (s): {seconds}")
    return seconds


@pytest.fixture(scope="module")
def s3_bucket() -> Iterator[tuple[str, str]]:
    """A moto S3 server on 127.0.0.1 and a fresh bucket: (endpoint URL, bucket)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    _s3(url).create_bucket(Bucket=bucket)
    try:
        yield url, bucket
    finally:
        server.stop()


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        region_name=S3_ENV["AWS_REGION"],
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def test_worker_image_runs_its_command_without_the_web_stack(
    engine: Engine, images: dict[str, float]
) -> None:
    assert "--job-types" in engine.once(WORKER, "worker", "--help", env={})
    probe = (
        "import importlib.util as u; "
        "print([m for m in ('flask', 'sqlalchemy', 'psycopg2') if u.find_spec(m)])"
    )
    assert engine.once(WORKER, "python", "-c", probe, env={}).strip() == "[]"
    user = engine.once(WORKER, "python", "-c", "import os; print(os.getuid())", env={})
    assert user.strip() == "10001"  # not root


def _storage_env(s3_bucket: tuple[str, str]) -> dict[str, str]:
    endpoint, bucket = s3_bucket
    return {
        **S3_ENV,
        "SHOAL_STORAGE": "s3",
        "SHOAL_S3_BUCKET": bucket,
        "SHOAL_S3_ENDPOINT_URL": endpoint,
    }


def _api_env(db_url: str, storage: dict[str, str], port: int) -> dict[str, str]:
    return {
        **storage,
        "DATABASE_URL": db_url,
        "SHOAL_JWT_PRIVATE_KEY": jwt_pems()[0],
        "SHOAL_PASSWORD_HASH_FAST": "1",
        "SHOAL_COMPUTE_BACKEND": "local",
        "SHOAL_WEBAPI_BIND": f"127.0.0.1:{port}",
        "SHOAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def _first_steps(engine: Engine, api_env: dict[str, str]) -> tuple[str, str, str]:
    """docker-compose.yml's first steps, in the image: migrate, an admin, a MANAGER key for
    the manager and a WORKER key for the workers it starts."""
    assert "revision" in engine.once(WEBAPI, "db", "upgrade", env=api_env)
    password = secrets.token_urlsafe(16)
    engine.once(WEBAPI, "db", "users", "create", ADMIN, "--password", password, "--role", "ADMIN",
                env=api_env)  # fmt: skip
    manager = engine.once(WEBAPI, "db", "api-keys", "create", "manager", "--role", "MANAGER",
                          env=api_env)  # fmt: skip
    workers = engine.once(WEBAPI, "db", "api-keys", "create", "workers", "--role", "WORKER",
                          env=api_env)  # fmt: skip
    return password, manager.strip(), workers.strip()


def test_webapi_answers_health_and_a_local_manager_runs_a_test_job_into_s3(
    engine: Engine, images: dict[str, float], db_url_str: str, s3_bucket: tuple[str, str]
) -> None:
    socket_dir = make_url(db_url_str).query.get("host")
    if isinstance(socket_dir, str):  # the embedded server listens on a socket only
        engine.mounts.append(socket_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    storage = _storage_env(s3_bucket)
    api_env = _api_env(db_url_str, storage, port)
    password, manager_key, worker_key = _first_steps(engine, api_env)
    api = engine.start(WEBAPI, "webapi", env=api_env)
    assert wait_healthy(url, 90, still_starting=lambda: engine.running(api)), engine.logs(api)
    manager = engine.start(
        MANAGER,
        "manager",
        init=True,
        env={
            **storage,
            "SHOAL_API_URL": url,
            "SHOAL_API_KEY": manager_key,
            "SHOAL_WORKER_API_KEY": worker_key,
            "SHOAL_COMPUTE_BACKEND": "local",
            "SHOAL_MANAGER_TICK_SECONDS": "1",
            "SHOAL_IDLE_TIMEOUT_SECONDS": "10",
        },
    )
    with ShoalClient(url, email=ADMIN, password=password) as client:
        job_id = client.submit_job("TEST", {"id": 1, "durationSeconds": 0.5})["jobId"]
        try:
            job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED", "CANCELLED"),
                           120, "the TEST job to end", interval=0.5)  # fmt: skip
        except AssertionError:
            pytest.fail(f"{engine.logs(manager)}\n--- api ---\n{engine.logs(api)[-4000:]}")
        assert job["status"] == "SUCCEEDED", engine.logs(manager)
        files = client.download_urls(job_id)["files"]
    assert httpx.get(files["result.json"], timeout=10).status_code == 200
    endpoint, bucket = s3_bucket
    listed = _s3(endpoint).list_objects_v2(Bucket=bucket)
    assert any(item["Key"].endswith("/result.json") for item in listed.get("Contents", []))
