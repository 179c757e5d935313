"""``GET /api/jobs/batches/:id/archive``: every result file of a batch in one zip,
streamed a chunk at a time, from local storage and from S3."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from shared.storage import LocalStorage
from shared.storage.s3 import S3Storage
from tests.shared.storage.test_s3 import bucket, moto_url
from tests.webapi.jobs.test_batch_pages import _fail, _post_batch
from tests.webapi.jobs.test_batch_status import _succeed, _take
from webapi.jobs.archive import CHUNK, zip_stream
from webapi.store.queue_batches import StoredResult

__all__ = ["bucket", "moto_url"]  # the S3 fixtures, used here


def test_the_archive_holds_each_succeeded_inputs_files_under_its_index(
    app, client, live_url, analyst, worker
) -> None:
    batch = _post_batch(client, analyst, [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 1}]).json
    first, second, third = _take(client, worker, *batch["jobIds"][:3])
    big = os.urandom(3 * CHUNK + 5)
    maps = Path(urlsplit(first["storage_uri"]).path) / "maps"
    maps.mkdir(parents=True)
    (maps / "a.txt").write_text("a")
    _succeed(client, worker, first, {"result.json": '{"a": 1}'})
    _fail(client, worker, second, "boom")
    _succeed(client, worker, third, {"result.json": '{"c": 3}'})
    (Path(urlsplit(third["storage_uri"]).path) / "big.bin").write_bytes(big)
    url = f"{live_url}/api/jobs/batches/{batch['batchId']}/archive"
    with httpx.stream("GET", url, headers=analyst.headers, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        assert "content-length" not in answer.headers  # streamed as written
        disposition = answer.headers["content-disposition"]
        data = answer.read()
    assert disposition == f'attachment; filename="batch-{batch["batchId"]}.zip"'
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        found = {name: archive.read(name) for name in archive.namelist()}
    assert found == {
        "1/maps/a.txt": b"a",
        "1/result.json": b'{"a": 1}',
        "3/big.bin": big,
        "3/result.json": b'{"c": 3}',
        "4/maps/a.txt": b"a",
        "4/result.json": b'{"a": 1}',
    }
    one_a_page = app.extensions["shoal_jobs"].batches.results(batch["batchId"], page=1)
    assert [r.input_index for r in one_a_page] == [1, 3, 4]


def test_an_archive_of_no_results_is_an_empty_zip_and_others_get_none(
    client, analyst, auth_headers, make_user
) -> None:
    batch_id = _post_batch(client, analyst, [{"id": 1}]).json["batchId"]
    answer = client.get(f"/api/jobs/batches/{batch_id}/archive", headers=analyst.headers)
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        assert archive.namelist() == []
    stranger = auth_headers(make_user()[1])
    url = f"/api/jobs/batches/{batch_id}/archive"
    assert client.get(url, headers=stranger).status_code == 403
    missing = f"/api/jobs/batches/{batch_id + 1}/archive"
    assert client.get(missing, headers=analyst.headers).status_code == 404


def _archive_parts(storage, uri: str, files: dict[str, bytes]) -> list[bytes]:
    results = [StoredResult(1, 7, uri), StoredResult(2, 8, uri)]
    parts = list(zip_stream(results, storage))
    with zipfile.ZipFile(io.BytesIO(b"".join(parts))) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == {
            f"{index}/{name}": content for index in (1, 2) for name, content in files.items()
        }
    return parts


@pytest.fixture
def result_files(tmp_path: Path) -> dict[str, bytes]:
    files = {"big.bin": os.urandom(5 * CHUNK + 1), "small.txt": b"small"}
    for name, content in files.items():
        (tmp_path / "out" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / name).write_bytes(content)
    return files


def test_no_part_of_the_stream_holds_more_than_a_chunk_from_local_storage(
    tmp_path: Path, result_files: dict[str, bytes]
) -> None:
    storage = LocalStorage(tmp_path / "store")
    uri = f"{storage.base_uri()}/TEST/7/attempt-1"
    storage.upload_dir(tmp_path / "out", uri)
    parts = _archive_parts(storage, uri, result_files)
    assert max(len(part) for part in parts) <= CHUNK + 200  # a chunk and an entry header
    assert len(parts) > 10


def test_no_part_of_the_stream_holds_more_than_a_chunk_from_s3(
    bucket: str, moto_url: str, tmp_path: Path, result_files: dict[str, bytes]
) -> None:
    storage = S3Storage(bucket, "results/", region="us-east-1", endpoint_url=moto_url)
    uri = f"{storage.base_uri()}/TEST/7/attempt-1"
    storage.upload_dir(tmp_path / "out", uri)
    parts = _archive_parts(storage, uri, result_files)
    assert max(len(part) for part in parts) <= CHUNK + 200
    assert len(parts) > 10
