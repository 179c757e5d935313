"""The interface every result store offers, and the URI helpers both backends share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit
from urllib.request import url2pathname

from shared.enums import StorageScheme
from shared.errors import InvalidInput

# SigV4 presigned URLs live at most 7 days; local links follow the same bound.
MAX_EXPIRY_SECONDS = 7 * 24 * 3600


class ResultStorage(Protocol):
    """Where workers put result files and where the API finds and links them.

    A job attempt's files live under one URI (``<base>/<type>/<job id>/attempt-<n>``);
    paths handed in and out are relative to that URI and use ``/``.
    """

    @property
    def scheme(self) -> StorageScheme: ...

    def base_uri(self) -> str:
        """``s3://bucket/prefix`` or ``file:///abs/dir``, without a trailing slash."""
        ...

    def upload_dir(self, local_dir: Path, uri: str) -> list[str]:
        """Copy every file under ``local_dir`` to ``uri``; returns their relative paths.

        Uploading the same directory again rewrites the same files: a retry is safe.
        """
        ...

    def is_transient(self, error: Exception) -> bool:
        """Whether ``error``, raised by this store, may pass if the call is tried again
        later (throttling, a server error, a dropped connection, a full or unwritable disk)."""
        ...

    def list_files(self, uri: str, filter_prefix: str | None = None) -> list[str]:
        """The relative paths of the files under ``uri`` (sorted), optionally by prefix."""
        ...

    def file_sizes(self, uri: str) -> dict[str, int]:
        """``{relative path: size in bytes}`` of the files under ``uri``."""
        ...

    def download_urls(
        self,
        uri: str,
        expiry_seconds: int,
        filter_prefix: str | None = None,
        *,
        public_base_url: str = "",
    ) -> dict[str, str]:
        """``{relative path: URL}``; each URL works without credentials until it expires."""
        ...

    def delete_tree(self, uri: str) -> int:
        """Delete every file under ``uri``; returns how many. Nothing there is not an error."""
        ...

    def read_chunks(self, uri: str, relative: str, chunk_size: int) -> Iterator[bytes]:
        """The bytes of one file under ``uri``, at most ``chunk_size`` at a time, so a
        large file is never held whole."""
        ...


def check_expiry(expiry_seconds: int) -> None:
    if not 1 <= expiry_seconds <= MAX_EXPIRY_SECONDS:
        raise InvalidInput(
            f"expirySeconds must be between 1 and {MAX_EXPIRY_SECONDS}",
            errors={"expirySeconds": [f"Must be between 1 and {MAX_EXPIRY_SECONDS}."]},
        )


def file_uri_path(uri: str) -> Path:
    """The absolute path a ``file://`` URI names."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise ValueError(f"not a local file URI: {uri!r}")
    path = Path(url2pathname(parts.path))
    if not path.is_absolute():
        raise ValueError(f"a file URI must name an absolute path: {uri!r}")
    return path


def s3_uri_parts(uri: str) -> tuple[str, str]:
    """``(bucket, key prefix without slashes at either end)`` of an ``s3://`` URI."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return parts.netloc, parts.path.strip("/")


def files_under(local_dir: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, path)`` of each regular file under ``local_dir``, sorted."""
    found = [
        (path.relative_to(local_dir).as_posix(), path)
        for path in local_dir.rglob("*")
        if path.is_file()
    ]
    return sorted(found)


def matches(relative_path: str, filter_prefix: str | None) -> bool:
    return not filter_prefix or relative_path.startswith(filter_prefix)
