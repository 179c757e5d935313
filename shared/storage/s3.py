"""Result files in an S3 bucket (or MinIO/moto through an endpoint URL), linked by SigV4
presigned URLs. boto3 is imported here only, so the base install does without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError

from shared.enums import StorageScheme
from shared.storage.base import check_expiry, files_under, matches, s3_uri_parts

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

DELETE_BATCH = 1000
# What passes if tried again later, as botocore's own standard retry mode sees it (its
# retries run out within seconds; a throttled bucket or an S3 outage can last longer).
# Anything else (AccessDenied, NoSuchBucket, bad credentials) needs someone to act.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_CODES = frozenset(
    {
        "BandwidthLimitExceeded",
        "InternalError",
        "PriorRequestNotComplete",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
    }
)
# Connections refused, reset or timed out, and bodies cut short; OSError: the local file.
TRANSIENT_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError, OSError)


def make_s3_client(region: str | None = None, endpoint_url: str | None = None) -> S3Client:
    """An S3 client that signs with SigV4; a custom endpoint gets path-style addressing."""
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path" if endpoint_url else "auto"},
    )
    session = boto3.session.Session()
    return session.client("s3", region_name=region, endpoint_url=endpoint_url, config=config)


class S3Storage:
    scheme = StorageScheme.S3

    def __init__(
        self,
        bucket: str,
        prefix: str = "results",
        *,
        client: S3Client | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        page_size: int = 1000,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or make_s3_client(region, endpoint_url)
        self.page_size = page_size

    def base_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def upload_dir(self, local_dir: Path, uri: str) -> list[str]:
        """Upload with boto3's managed transfer (multipart for large files)."""
        bucket, key = s3_uri_parts(uri)
        uploaded = []
        for relative, path in files_under(local_dir):
            self.client.upload_file(str(path), bucket, _join(key, relative))
            uploaded.append(relative)
        return uploaded

    def is_transient(self, error: Exception) -> bool:
        """Throttling, server errors and broken connections; boto3's managed upload wraps
        a ClientError in ``S3UploadFailedError``, so the causes are looked at too."""
        cause: BaseException | None = error
        for _ in range(8):  # a chain of causes is short; a cycle must not hang us
            if cause is None:
                return False
            if isinstance(cause, TRANSIENT_ERRORS):
                return True
            if isinstance(cause, ClientError):
                status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = cause.response.get("Error", {}).get("Code")
                return status in TRANSIENT_STATUS or code in TRANSIENT_CODES
            cause = cause.__cause__ or cause.__context__
        return False

    def list_files(self, uri: str, filter_prefix: str | None = None) -> list[str]:
        return [relative for relative, _, _ in self._objects(uri, filter_prefix)]

    def file_sizes(self, uri: str) -> dict[str, int]:
        return {relative: size for relative, _, size in self._objects(uri, None)}

    def download_urls(
        self,
        uri: str,
        expiry_seconds: int,
        filter_prefix: str | None = None,
        *,
        public_base_url: str = "",
    ) -> dict[str, str]:
        check_expiry(expiry_seconds)
        bucket, _ = s3_uri_parts(uri)
        return {
            relative: self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=expiry_seconds,
            )
            for relative, key, _ in self._objects(uri, filter_prefix)
        }

    def delete_tree(self, uri: str) -> int:
        """Delete the objects under ``uri`` in batches of 1,000 (DeleteObjects' limit)."""
        bucket, _ = s3_uri_parts(uri)
        keys = [key for _, key, _ in self._objects(uri, None)]
        for start in range(0, len(keys), DELETE_BATCH):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": key} for key in keys[start : start + DELETE_BATCH]
            ]
            answer = self.client.delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                [first, *_] = answer["Errors"]
                raise S3DeleteError(f"{len(answer['Errors'])} objects not deleted: {first}")
        return len(keys)

    def read_chunks(self, uri: str, relative: str, chunk_size: int) -> Iterator[bytes]:
        bucket, key = s3_uri_parts(uri)
        body = self.client.get_object(Bucket=bucket, Key=_join(key, relative))["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def _objects(self, uri: str, filter_prefix: str | None) -> list[tuple[str, str, int]]:
        """``(relative path, key, size)`` of every object under the URI, through the paginator."""
        bucket, key = s3_uri_parts(uri)
        base = f"{key}/" if key else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=bucket,
            Prefix=base + (filter_prefix or ""),
            PaginationConfig={"PageSize": self.page_size},
        )
        found = [
            (item["Key"][len(base) :], item["Key"], int(item.get("Size", 0)))
            for page in pages
            for item in page.get("Contents", [])
        ]
        return sorted(pair for pair in found if matches(pair[0], filter_prefix))


class S3DeleteError(RuntimeError):
    """S3 refused to delete some objects."""


def _join(key: str, relative: str) -> str:
    return f"{key}/{relative}" if key else relative
