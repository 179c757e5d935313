"""The S3 backend against moto in server mode, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from shared.enums import StorageScheme
from shared.storage import StorageSettings, make_storage, storage_for_uri
from shared.storage.s3 import S3Storage, make_s3_client
from tests.support.aws import MotoServer, fake_credentials
from tests.support.fault_proxy import fault_proxy


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = MotoServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    fake_credentials(monkeypatch, tmp_path)
    name = f"results-{uuid.uuid4().hex[:12]}"
    make_s3_client("us-east-1", moto_url).create_bucket(Bucket=name)
    return name


def _tree(root: Path, count: int) -> Path:
    for index in range(count):
        path = root / ("maps" if index % 2 else "tables") / f"part-{index:03}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content {index}")
    (root / "result.json").write_text('{"ok": true}')
    return root


def test_upload_list_and_filter(bucket: str, moto_url: str, tmp_path: Path) -> None:
    storage = S3Storage(bucket, "results/", region="us-east-1", endpoint_url=moto_url, page_size=4)
    assert storage.base_uri() == f"s3://{bucket}/results"
    uri = f"{storage.base_uri()}/test/3/attempt-1"
    uploaded = storage.upload_dir(_tree(tmp_path / "out", 9), uri)
    assert len(uploaded) == 10
    pages: list[int] = []
    storage.client.meta.events.register(
        "after-call.s3.ListObjectsV2", lambda **kw: pages.append(kw["parsed"]["KeyCount"])
    )
    assert storage.list_files(uri) == sorted(uploaded)
    assert pages == [4, 4, 2]  # the paginator followed the continuation tokens
    maps = storage.list_files(uri, filter_prefix="maps/")
    assert maps == [f"maps/part-{i:03}.txt" for i in (1, 3, 5, 7)]
    # A sibling attempt's files are not listed.
    storage.upload_dir(_tree(tmp_path / "other", 1), f"{storage.base_uri()}/test/3/attempt-10")
    assert len(storage.list_files(uri)) == 10


def test_presigned_urls_download(bucket: str, moto_url: str, tmp_path: Path) -> None:
    env = {
        "SHOAL_STORAGE": "s3",
        "SHOAL_S3_BUCKET": bucket,
        "SHOAL_S3_ENDPOINT_URL": moto_url,
        "AWS_REGION": "us-east-1",
    }
    storage = make_storage(StorageSettings.from_env(env))
    assert storage.scheme is StorageScheme.S3
    uri = f"{storage.base_uri()}/polygon_stats/4/attempt-2"
    # The worker side: any S3 URI, the endpoint from the environment.
    storage_for_uri(uri, env).upload_dir(_tree(tmp_path / "out", 2), uri)
    urls = storage.download_urls(uri, 300, filter_prefix="result")
    assert list(urls) == ["result.json"]
    query = parse_qs(urlsplit(urls["result.json"]).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    response = httpx.get(urls["result.json"])
    assert response.status_code == 200
    assert response.text == '{"ok": true}'
    everything = storage.download_urls(uri, 60)
    assert sorted(everything) == ["maps/part-001.txt", "result.json", "tables/part-000.txt"]
    assert httpx.get(everything["maps/part-001.txt"]).text == "content 1"


def test_delete_tree_removes_only_that_attempt(bucket: str, moto_url: str, tmp_path: Path) -> None:
    storage = S3Storage(bucket, "results", region="us-east-1", endpoint_url=moto_url, page_size=3)
    uri, sibling = (f"{storage.base_uri()}/test/3/attempt-{n}" for n in (1, 10))
    storage.upload_dir(_tree(tmp_path / "out", 6), uri)
    storage.upload_dir(_tree(tmp_path / "other", 1), sibling)
    assert storage.delete_tree(uri) == 7
    assert storage.list_files(uri) == []
    assert len(storage.list_files(sibling)) == 2
    assert storage.delete_tree(uri) == 0


def test_throttling_and_resets_are_transient_a_missing_bucket_is_not(
    bucket: str, moto_url: str, tmp_path: Path
) -> None:
    """What the worker retries: S3's answers through a proxy that fails uploads on demand
    (botocore's own retries off, so each fault reaches the caller at once)."""
    (tmp_path / "out").mkdir()
    out = _tree(tmp_path / "out", 0)
    with fault_proxy(moto_url) as proxy:
        client = boto3.session.Session().client(
            "s3",
            region_name="us-east-1",
            endpoint_url=proxy.url,
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        storage = S3Storage(bucket, "results", client=client)
        uri = f"{storage.base_uri()}/test/5/attempt-1"
        for fault in ("slowdown", "reset"):
            proxy.set(fault)
            with pytest.raises((S3UploadFailedError, BotoCoreError)) as raised:
                storage.upload_dir(out, uri)
            assert storage.is_transient(raised.value), repr(raised.value)
        proxy.set(None)
        assert storage.upload_dir(out, uri) == ["result.json"]
        with pytest.raises(S3UploadFailedError) as refused:
            storage.upload_dir(out, "s3://no-such-bucket/test/5/attempt-1")
        assert not storage.is_transient(refused.value), repr(refused.value)
