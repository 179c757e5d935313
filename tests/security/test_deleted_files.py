"""Result files and their links do not outlive their job, over real HTTP.

Deleting a job's owner (or pruning the job) answers at once; a local signed link of
the job is refused from that moment (410), and the files themselves, local or in S3
(moto, in server mode), are deleted in the background and retried until they are.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from shared.storage.s3 import S3Storage, make_s3_client
from tests.security.conftest import Caller, Cast, finish, submit, write_local
from tests.support.aws import MotoServer, fake_credentials
from webapi.jobs.runtime import EXTENSION as JOBS
from webapi.services import Services


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def web_env(
    web_env: dict[str, str], storage_kind: str, request: pytest.FixtureRequest
) -> dict[str, str]:
    fast = {"SHOAL_SWEEP_SECONDS": "0.2", "SHOAL_STORAGE_CLEANUP_RETRY_SECONDS": "0.2"}
    if storage_kind == "local":
        return {**web_env, **fast}
    moto: Moto = request.getfixturevalue("moto")
    return {
        **web_env,
        **fast,
        "SHOAL_STORAGE": "s3",
        "SHOAL_S3_BUCKET": moto.bucket,
        "SHOAL_S3_ENDPOINT_URL": moto.url,
        "AWS_REGION": "us-east-1",
    }


def wait_until(condition: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    """Poll an observable condition until it holds; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def _links(http: httpx.Client, live_url: str, job_id: int, owner: Caller) -> dict[str, str]:
    answer = http.get(f"{live_url}/api/jobs/{job_id}/download", headers=owner.headers)
    assert answer.status_code == 200, answer.json()
    files: dict[str, str] = answer.json()["files"]
    return files


def _outbox(services: Services) -> list[tuple[str, int, str | None]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT storage_uri, attempts, last_error FROM storage_deletions ORDER BY id")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _assignments(services: Services, job_id: int) -> list[tuple[str]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT storage_uri FROM job_assignments WHERE job_id = :id"), {"id": job_id}
        )
        return [(row[0],) for row in rows]


def test_deleting_the_owner_refuses_links_at_once_and_removes_the_files(
    live_url: str, http: httpx.Client, client: FlaskClient, cast: Cast, tmp_path: Path
) -> None:
    submit(client, cast.analyst)
    job_id = finish(client, cast.worker, {"result.json": '{"ok": true}', "maps/a.txt": "a"})
    links = _links(http, live_url, job_id, cast.analyst)
    assert http.get(links["result.json"]).status_code == 200
    job_dir = tmp_path / "results" / "test" / str(job_id)
    assert (job_dir / "attempt-1" / "maps" / "a.txt").is_file()

    deleted = http.delete(
        f"{live_url}/api/users/{cast.analyst.user_id}", headers=cast.admin.headers
    )
    assert deleted.status_code == 204
    for link in links.values():
        refused = http.get(link)
        assert refused.status_code == 410, refused.status_code
        assert "deleted" in refused.json()["message"]
    wait_until(lambda: not job_dir.exists(), "the job's files to be deleted")
    assert http.get(f"{live_url}/api/jobs/{job_id}", headers=cast.admin.headers).status_code == 404


def test_pruning_removes_the_files_of_pruned_jobs_only(
    live_url: str, http: httpx.Client, client: FlaskClient, cast: Cast, app: Flask, tmp_path: Path
) -> None:
    submit(client, cast.analyst, job_id=1)
    old = finish(client, cast.worker, {"result.json": "{}"})
    old_link = _links(http, live_url, old, cast.analyst)["result.json"]
    pruned = app.extensions[JOBS].queue.prune(retention_seconds=0)
    assert pruned == 1
    submit(client, cast.analyst, job_id=2)
    kept = finish(client, cast.worker, {"result.json": "{}"})
    assert http.get(old_link).status_code == 410
    wait_until(lambda: not (tmp_path / "results" / "test" / str(old)).exists(), "pruned files")
    kept_link = _links(http, live_url, kept, cast.analyst)["result.json"]
    assert http.get(kept_link).status_code == 200


@dataclass
class Moto:
    server: MotoServer
    bucket: str

    @property
    def url(self) -> str:
        return self.server.url

    def storage(self) -> S3Storage:
        return S3Storage(self.bucket, region="us-east-1", endpoint_url=self.url)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Moto]:
    fake_credentials(monkeypatch, tmp_path)
    server = MotoServer()
    server.start()
    found = Moto(server, f"results-{uuid.uuid4().hex[:12]}")
    make_s3_client("us-east-1", server.url).create_bucket(Bucket=found.bucket)
    try:
        yield found
    finally:
        server.stop()


def _upload(moto: Moto, tmp_path: Path) -> Callable[[str, dict[str, str]], None]:
    """Store files as a worker does: written locally, then uploaded to the URI."""

    def store(storage_uri: str, files: dict[str, str]) -> None:
        write_local((tmp_path / "out").as_uri(), files)
        moto.storage().upload_dir(tmp_path / "out", storage_uri)

    return store


@pytest.mark.parametrize("storage_kind", ["s3"])
def test_s3_objects_are_deleted_and_a_failed_deletion_is_retried(
    live_url: str,
    http: httpx.Client,
    client: FlaskClient,
    cast: Cast,
    moto: Moto,
    services: Services,
    tmp_path: Path,
) -> None:
    submit(client, cast.analyst)
    files = {"result.json": "{}", "maps/a.txt": "a"}
    job_id = finish(client, cast.worker, files, store=_upload(moto, tmp_path))
    links = _links(http, live_url, job_id, cast.analyst)
    assert sorted(links) == ["maps/a.txt", "result.json"]
    assert http.get(links["maps/a.txt"]).text == "a"
    storage = moto.storage()
    [uri] = [row[0] for row in _assignments(services, job_id)]

    moto.server.stop()  # S3 unreachable: the deletion fails and is kept
    deleted = http.delete(
        f"{live_url}/api/users/{cast.analyst.user_id}", headers=cast.admin.headers
    )
    assert deleted.status_code == 204
    failed = wait_until(
        lambda: [row for row in _outbox(services) if row[0] == uri and row[2]],
        "a failed deletion",
    )
    assert "EndpointConnectionError" in (failed[0][2] or "")

    moto.server.start()  # S3 is back (with the objects): the retry deletes them
    wait_until(lambda: not storage.list_files(uri), "the retried deletion")
    assert http.get(links["maps/a.txt"]).status_code == 404
    wait_until(lambda: not _outbox(services), "the outbox to empty")
