"""Result files in a directory on this machine, linked by HMAC-signed URLs.

The API serves a link ``{public_base_url}/api/storage/local/{path}?expires=<unix
time>&signature=<hex>``, where ``path`` is relative to the storage root and the
signature is HMAC-SHA256 of ``"{path}\\n{expires}"`` under ``SHOAL_SIGNING_SECRET``.
The route checks it with :meth:`LocalStorage.verify`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlencode

from shared.enums import StorageScheme
from shared.errors import Forbidden, InvalidInput, NotFound, SettingsError
from shared.storage.base import check_expiry, file_uri_path, files_under, matches

ROUTE = "/api/storage/local/"


class LocalStorage:
    scheme = StorageScheme.LOCAL

    def __init__(self, root: Path, signing_secret: str | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self._secret = signing_secret.encode() if signing_secret else None

    def base_uri(self) -> str:
        return self.root.as_uri().rstrip("/")

    def path_for(self, uri: str) -> Path:
        """The directory a ``file://`` URI names; it must lie under the root."""
        try:
            path = file_uri_path(uri)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        if not Path(os.path.abspath(path)).is_relative_to(self.root):
            raise InvalidInput(f"{uri} is not under the storage root {self.base_uri()}")
        return path

    def upload_dir(self, local_dir: Path, uri: str) -> list[str]:
        target = self.path_for(uri)
        uploaded = []
        for relative, source in files_under(local_dir):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            # Copy then rename, so a reader never sees half a file.
            partial = destination.with_name(f".{destination.name}.partial")
            shutil.copyfile(source, partial)
            partial.replace(destination)
            uploaded.append(relative)
        return uploaded

    def is_transient(self, error: Exception) -> bool:
        """Any OS error: a full disk, a lost mount, a directory made unwritable or replaced
        can all be put right while the job waits; a URI outside the root cannot."""
        return isinstance(error, OSError)

    def list_files(self, uri: str, filter_prefix: str | None = None) -> list[str]:
        directory = self.path_for(uri)
        if not directory.is_dir():
            return []
        return [rel for rel, path in files_under(directory) if matches(rel, filter_prefix)]

    def file_sizes(self, uri: str) -> dict[str, int]:
        directory = self.path_for(uri)
        if not directory.is_dir():
            return {}
        return {rel: path.stat().st_size for rel, path in files_under(directory)}

    def download_urls(
        self,
        uri: str,
        expiry_seconds: int,
        filter_prefix: str | None = None,
        *,
        public_base_url: str = "",
        now: float | None = None,
    ) -> dict[str, str]:
        check_expiry(expiry_seconds)
        directory = self.path_for(uri)
        expires = int(time.time() if now is None else now) + expiry_seconds
        urls = {}
        for relative in self.list_files(uri, filter_prefix):
            stored = (directory / relative).relative_to(self.root).as_posix()
            query = urlencode({"expires": expires, "signature": self.sign(stored, expires)})
            urls[relative] = f"{public_base_url.rstrip('/')}{ROUTE}{quote(stored)}?{query}"
        return urls

    def delete_tree(self, uri: str) -> int:
        """Remove the directory, then its parent (the job's) if that is left empty."""
        directory = self.path_for(uri)
        if not directory.is_dir():
            return 0
        count = len(files_under(directory))
        shutil.rmtree(directory)
        if directory.parent != self.root:
            with contextlib.suppress(OSError):  # not empty: another attempt's files remain
                directory.parent.rmdir()
        return count

    def read_chunks(self, uri: str, relative: str, chunk_size: int) -> Iterator[bytes]:
        directory = self.path_for(uri)
        path = Path(os.path.abspath(directory / relative))
        if not path.is_relative_to(directory):
            raise InvalidInput(f"{relative!r} is not under {uri}")
        with path.open("rb") as source:
            while chunk := source.read(chunk_size):
                yield chunk

    def sign(self, relative_path: str, expires: int) -> str:
        if self._secret is None:
            raise SettingsError("SHOAL_SIGNING_SECRET is required to sign local download links")
        message = f"{relative_path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(
        self, relative_path: str, expires: str | int, signature: str, now: float | None = None
    ) -> Path:
        """The file a signed link names; Forbidden if the link is forged, expired or escapes.

        A valid link to a file that no longer exists is NotFound.
        """
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            raise Forbidden("Invalid download link") from None
        if self._secret is None:
            raise Forbidden("Invalid download link")
        expected = self.sign(relative_path, expires_at).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise Forbidden("Invalid download link")
        if (time.time() if now is None else now) > expires_at:
            raise Forbidden("This download link has expired")
        return self._inside_root(relative_path)

    def _inside_root(self, relative_path: str) -> Path:
        pure = PurePosixPath(relative_path)
        if not relative_path or "\x00" in relative_path or pure.is_absolute() or ".." in pure.parts:
            raise Forbidden("Invalid download link")
        root = self.root.resolve()
        resolved = (root / pure).resolve()
        if not resolved.is_relative_to(root):  # a symlink that points out of the root
            raise Forbidden("Invalid download link")
        if not resolved.is_file():
            raise NotFound("That file no longer exists")
        return resolved
