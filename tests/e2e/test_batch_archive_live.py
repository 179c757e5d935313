"""A batch's archive from the real ``shoal webapi`` (gunicorn, gevent): a result file of
64 MiB streams through without holding the event loop (the fixture fails the test at
teardown if a greenlet held it past the threshold) and arrives whole."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.conftest import LiveApi

pytestmark = pytest.mark.slow
BIG = 64 * 1024 * 1024


def test_a_big_archive_streams_without_holding_the_loop(live_api: LiveApi) -> None:
    with live_api.client() as admin:
        batch = admin.submit_batch("TEST", [{"id": 1}, {"id": 2}])
    worker = {"X-API-Key": live_api.worker_key}
    with httpx.Client(base_url=live_api.url, headers=worker, timeout=60) as http:
        for _ in batch["jobIds"]:
            claimed = http.post(
                "/api/jobs/claim",
                json={"jobTypes": ["TEST"], "ecsTaskArn": "t", "ecsClusterArn": "c"},
            )
            assert claimed.status_code == 200, claimed.text
            assignment = claimed.json()["assignment"]
            directory = Path(urlsplit(assignment["storage_uri"]).path)
            directory.mkdir(parents=True)
            with (directory / "big.bin").open("wb") as big:
                for block in range(BIG // (1024 * 1024)):
                    big.write(bytes([block % 251]) * (1024 * 1024))
            done = http.post(
                f"/api/jobs/assignments/{assignment['id']}/result",
                json={"status": "SUCCEEDED", "resultPayload": {}},
            )
            assert done.status_code == 200, done.text
    url = f"{live_api.url}/api/jobs/batches/{batch['batchId']}/archive"
    received, size = io.BytesIO(), 0
    bearer = {"Authorization": f"Bearer {admin_token(live_api)}"}
    with httpx.stream("GET", url, headers=bearer, timeout=60) as answer:
        assert answer.status_code == 200
        for part in answer.iter_bytes():
            received.write(part)
    with zipfile.ZipFile(received) as archive:
        assert sorted(archive.namelist()) == ["1/big.bin", "2/big.bin"]
        for name in archive.namelist():
            with archive.open(name) as member:  # checks the CRC as it reads
                while chunk := member.read(1024 * 1024):
                    size += len(chunk)
    assert size == 2 * BIG


def admin_token(live_api: LiveApi) -> str:
    body = {"email": "e2e-admin@example.org", "password": live_api.admin_password}
    answer = httpx.post(f"{live_api.url}/api/auth/login", json=body)
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token
