"""The local backend: upload, listing, and signed links that refuse forgery and escape."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from shared.enums import StorageScheme
from shared.errors import Forbidden, InvalidInput, NotFound, SettingsError
from shared.storage import LocalStorage, StorageSettings, make_storage, storage_for_uri

NOW = 1_900_000_000.0


def _output(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "maps" / "deep").mkdir(parents=True)
    (out / "result.json").write_text('{"ok": true}')
    (out / "maps" / "a.tif").write_bytes(b"\x00\x01")
    (out / "maps" / "deep" / "b.tif").write_bytes(b"\x02")
    return out


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "results", signing_secret="s3cret")


def test_upload_and_list(storage: LocalStorage, tmp_path: Path) -> None:
    uri = f"{storage.base_uri()}/test/7/attempt-1"
    uploaded = storage.upload_dir(_output(tmp_path), uri)
    assert uploaded == ["maps/a.tif", "maps/deep/b.tif", "result.json"]
    assert storage.list_files(uri) == uploaded
    assert storage.list_files(uri, filter_prefix="maps/") == ["maps/a.tif", "maps/deep/b.tif"]
    assert storage.list_files(uri, filter_prefix="nothing") == []
    assert (tmp_path / "results/test/7/attempt-1/maps/deep/b.tif").read_bytes() == b"\x02"
    assert storage.list_files(f"{storage.base_uri()}/test/8/attempt-1") == []


def test_a_uri_outside_the_root_is_refused(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        storage.upload_dir(_output(tmp_path), f"{storage.base_uri()}/../elsewhere")
    with pytest.raises(InvalidInput):
        storage.list_files("s3://bucket/key")


def _link(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    path = unquote(parts.path.removeprefix("/api/storage/local/"))
    return path, query["expires"][0], query["signature"][0]


def test_signed_links_verify(storage: LocalStorage, tmp_path: Path) -> None:
    uri = f"{storage.base_uri()}/test/7/attempt-1"
    storage.upload_dir(_output(tmp_path), uri)
    urls = storage.download_urls(
        uri, 60, public_base_url="http://api.example/", now=NOW, filter_prefix="result"
    )
    assert list(urls) == ["result.json"]
    url = urls["result.json"]
    assert url.startswith("http://api.example/api/storage/local/test/7/attempt-1/result.json?")
    path, expires, signature = _link(url)
    assert int(expires) == int(NOW) + 60
    found = storage.verify(path, expires, signature, now=NOW + 59)
    assert found.read_text() == '{"ok": true}'


def test_tampered_expired_and_escaping_links_are_forbidden(
    storage: LocalStorage, tmp_path: Path
) -> None:
    uri = f"{storage.base_uri()}/test/7/attempt-1"
    storage.upload_dir(_output(tmp_path), uri)
    path, expires, signature = _link(storage.download_urls(uri, 60, now=NOW)["result.json"])
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    cases = [
        (path, expires, forged),
        ("test/7/attempt-1/maps/a.tif", expires, signature),  # another file
        (path, str(int(expires) + 3600), signature),  # a longer life
        (path, "soon", signature),
        (path, expires, "ünïcode"),
    ]
    for case in cases:
        with pytest.raises(Forbidden):
            storage.verify(*case, now=NOW)
    with pytest.raises(Forbidden, match="expired"):
        storage.verify(path, expires, signature, now=NOW + 61)


def test_signed_traversal_and_symlinks_out_are_forbidden(
    storage: LocalStorage, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    storage.root.mkdir(parents=True)
    (storage.root / "link").symlink_to(tmp_path)
    expires = int(NOW) + 60
    for path in ["../secret.txt", "/etc/passwd", "a/../../secret.txt", "link/secret.txt", ""]:
        # Even a correctly signed path may not leave the root.
        with pytest.raises(Forbidden):
            storage.verify(path, expires, storage.sign(path, expires), now=NOW)
    missing = "test/1/attempt-1/gone.json"
    with pytest.raises(NotFound):
        storage.verify(missing, expires, storage.sign(missing, expires), now=NOW)


def test_signing_needs_the_secret(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "f.txt").write_text("x")
    with pytest.raises(SettingsError, match="SHOAL_SIGNING_SECRET"):
        storage.download_urls(storage.base_uri() + "/job", 60)
    with pytest.raises(Forbidden):
        storage.verify("job/f.txt", int(NOW) + 60, "00", now=NOW)


def test_expiry_is_bounded(storage: LocalStorage) -> None:
    for expiry in (0, 8 * 24 * 3600):
        with pytest.raises(InvalidInput):
            storage.download_urls(storage.base_uri(), expiry)


def test_settings_and_factories(tmp_path: Path) -> None:
    env = {"SHOAL_LOCAL_STORAGE_DIR": str(tmp_path / "r"), "SHOAL_SIGNING_SECRET": "hush-hush"}
    settings = StorageSettings.from_env(env)
    storage = make_storage(settings)
    assert storage.scheme is StorageScheme.LOCAL
    assert storage.base_uri() == (tmp_path / "r").as_uri()
    assert "hush-hush" not in repr(settings)
    target = storage_for_uri(f"{storage.base_uri()}/test/1/attempt-2", {})
    assert target.upload_dir(_output(tmp_path), f"{storage.base_uri()}/test/1/attempt-2")
    assert (tmp_path / "r/test/1/attempt-2/result.json").is_file()
    with pytest.raises(SettingsError, match="SHOAL_S3_BUCKET"):
        StorageSettings.from_env({"SHOAL_STORAGE": "s3"})
    with pytest.raises(SettingsError, match="SHOAL_STORAGE"):
        StorageSettings.from_env({"SHOAL_STORAGE": "gcs"})
    with pytest.raises(ValueError, match="unsupported"):
        storage_for_uri("gs://bucket/x", {})


def test_delete_tree_removes_an_attempt_and_its_empty_job_directory(
    storage: LocalStorage, tmp_path: Path
) -> None:
    first, second = (f"{storage.base_uri()}/test/7/attempt-{n}" for n in (1, 2))
    out = _output(tmp_path)
    storage.upload_dir(out, first)
    storage.upload_dir(out, second)
    assert storage.delete_tree(first) == 3
    assert storage.list_files(first) == [] and len(storage.list_files(second)) == 3
    assert storage.delete_tree(second) == 3
    assert not (tmp_path / "results/test/7").exists()  # the job's directory went with it
    assert (tmp_path / "results/test").is_dir()
    assert storage.delete_tree(second) == 0  # already gone: not an error
