"""A batch's result files as one zip, written while it is sent.

Nothing is held whole: each file is read from storage a chunk at a time and each
chunk goes out as soon as it is in the archive (stored, not compressed: no CPU spent
on the loop, and results are often compressed already). The zip is written to an
unseekable sink, so each entry's sizes and CRC follow it in a data descriptor.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterable, Iterator

from shared.storage import ResultStorage
from webapi.store.queue_batches import StoredResult

CHUNK = 256 * 1024


class _Sink(io.RawIOBase):
    """Where the zip writes: what it wrote since the last ``take``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken = b"".join(self._parts)
        self._parts.clear()
        return taken


def zip_stream(results: Iterable[StoredResult], storage: ResultStorage) -> Iterator[bytes]:
    """The zip of every file of ``results``, as ``<input index>/<relative path>``."""
    return (part for part in _written(results, storage) if part)


def _written(results: Iterable[StoredResult], storage: ResultStorage) -> Iterator[bytes]:
    sink = _Sink()
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for result in results:
            for relative, size in sorted(storage.file_sizes(result.storage_uri).items()):
                entry = zipfile.ZipInfo(f"{result.input_index}/{relative}", date_time=stamp)
                entry.file_size = size  # so a file past 4 GiB gets ZIP64 sizes
                with archive.open(entry, "w") as target:
                    for chunk in storage.read_chunks(result.storage_uri, relative, CHUNK):
                        target.write(chunk)
                        yield sink.take()
                yield sink.take()
    yield sink.take()
