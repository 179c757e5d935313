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

from shared.storage.s3 import make_s3_client
from tests.e2e.conftest import StartApi, WorkerProcess
from tests.e2e.helpers import job_in, wait_for
from tests.support.aws import MotoServer, fake_credentials

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
