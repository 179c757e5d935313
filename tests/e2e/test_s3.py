"""Results in S3, as on AWS: a real worker uploads, the real web API hands out presigned
links, and the files come back over HTTP (S3 is moto in server mode)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.client import ShoalClient
from shared.storage.s3 import make_s3_client
from tests.e2e.conftest import StartApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for
from tests.support.aws import MotoServer, fake_credentials
from tests.support.fault_proxy import fault_proxy

pytestmark = pytest.mark.slow

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}
BUCKET = "shoal-results"


@dataclass(frozen=True)
class S3:
    url: str
    client: Any
    settings: dict[str, str]  # what the API and the workers are given

    def keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    server = MotoServer()
    server.start()
    fake_credentials(monkeypatch, tmp_path)
    try:
        # moto keeps its state in this process: an earlier test's objects would be listed.
        httpx.post(f"{server.url}/moto-api/reset", timeout=10).raise_for_status()
        client = make_s3_client("us-east-1", server.url)
        client.create_bucket(Bucket=BUCKET)
        settings = {
            "SHOAL_STORAGE": "s3",
            "SHOAL_S3_BUCKET": BUCKET,
            "SHOAL_S3_ENDPOINT_URL": server.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        }
        yield S3(server.url, client, settings)
    finally:
        server.stop()


def test_a_workers_results_are_uploaded_to_s3_and_downloaded_through_the_api(
    start_api: StartApi, worker_process: Callable[..., WorkerProcess], s3: S3
) -> None:
    api = start_api(**s3.settings)
    with api.client() as client:
        job_id = client.submit_job("POLYGON_STATS", {"polygon": SQUARE})["jobId"]
        worker_process("POLYGON_STATS", api, **s3.settings)
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 60, "the job")
        links = client.download_urls(job_id)["files"]
        only_stats = client.download_urls(job_id, filter_prefix="stats")["files"]
    assert job["status"] == "SUCCEEDED", job
    [assignment] = job["assignments"]
    uri = assignment["storage_uri"]
    assert assignment["storage_scheme"] == "S3"
    assert uri.startswith(f"s3://{BUCKET}/") and uri.endswith(f"/{job_id}/attempt-1")
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    assert s3.keys() == [f"{prefix}/polygon.geojson", f"{prefix}/stats.json"]
    assert sorted(links) == ["polygon.geojson", "stats.json"]
    assert list(only_stats) == ["stats.json"]
    for name, link in links.items():
        assert link.startswith(f"{s3.url}/{BUCKET}/{prefix}/{name}?")  # presigned, not proxied
        fetched = httpx.get(link, timeout=10)
        assert fetched.status_code == 200
        assert fetched.content == s3.read(f"{prefix}/{name}")
    stats = json.loads(httpx.get(links["stats.json"], timeout=10).content)
    assert stats == assignment["result"]["result_payload"]
    assert not any(api.storage_dir.rglob("*")), "nothing is written to local storage"


def _log_text(client: ShoalClient, job_id: int) -> str:
    return "\n".join(line["message"] for line in client.job_logs(job_id)["lines"])


def test_throttling_and_resets_while_uploading_are_ridden_out(
    start_api: StartApi, worker_process: Callable[..., WorkerProcess], s3: S3
) -> None:
    """The worker reaches S3 through a proxy that answers 503 SlowDown, then resets
    connections, each until an upload failed past botocore's own retries; then S3 is back
    and the job succeeds on its first attempt, with one result."""
    api = start_api(**s3.settings)
    with fault_proxy(s3.url) as proxy, api.client() as client:
        proxy.set("slowdown")
        job_id = client.submit_job("TEST", {"id": 1})["jobId"]
        # Each failed try is botocore's five; the worker keeps trying for long enough.
        worker_settings = {"SHOAL_S3_ENDPOINT_URL": proxy.url, "SHOAL_UPLOAD_RETRY_SECONDS": "300"}
        worker_process("TEST", api, **{**s3.settings, **worker_settings})
        wait_for(lambda: "(try 1)" in _log_text(client, job_id), 90, "an upload to fail")
        proxy.set("reset")
        wait_for(lambda: "(try 2)" in _log_text(client, job_id), 90, "another to fail")
        proxy.set(None)
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 90, "the job")
    assert job["status"] == "SUCCEEDED", job
    [assignment] = job["assignments"]
    assert (assignment["attempt"], assignment["outcome"]) == (1, "SUCCEEDED")
    prefix = assignment["storage_uri"].removeprefix(f"s3://{BUCKET}/")
    assert s3.keys() == [f"{prefix}/result.json"]
    assert json.loads(s3.read(f"{prefix}/result.json")) == {"id": 1}


def test_access_denied_is_not_retried_and_each_attempt_is_handed_back(
    start_api: StartApi, worker_process: Callable[..., WorkerProcess], s3: S3
) -> None:
    api = start_api(**s3.settings)
    with fault_proxy(s3.url) as proxy, api.client() as client:
        proxy.set("deny")
        job_id = client.submit_job("TEST", {"id": 2})["jobId"]
        worker_process("TEST", api, **{**s3.settings, "SHOAL_S3_ENDPOINT_URL": proxy.url})
        job = wait_for(lambda: job_in(client, job_id, "SUCCEEDED", "FAILED"), 90, "the job")
    assert job["status"] == "FAILED", job
    assert [a["outcome"] for a in job["assignments"]] == ["FAILED"] * 3  # maxAttempts 3
    assert job["error_message"].startswith("Storing the results failed (1 try): ")
    assert "AccessDenied" in job["error_message"]
    assert s3.keys() == []
