"""Result storage behind one small interface: a local directory or an S3 bucket."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.enums import StorageScheme
from shared.settings import env_optional
from shared.storage.base import MAX_EXPIRY_SECONDS, ResultStorage, file_uri_path, s3_uri_parts
from shared.storage.local import LocalStorage
from shared.storage.settings import StorageSettings

if TYPE_CHECKING:
    from shared.storage.s3 import S3Storage

__all__ = [
    "MAX_EXPIRY_SECONDS",
    "LocalStorage",
    "ResultStorage",
    "StorageSettings",
    "make_storage",
    "storage_for_uri",
]


def make_storage(settings: StorageSettings) -> ResultStorage:
    """The configured store (boto3 is imported only for S3)."""
    if settings.scheme is StorageScheme.LOCAL:
        return LocalStorage(settings.local_dir, settings.signing_secret)
    assert settings.s3_bucket is not None  # from_env requires it for S3
    return _s3(
        settings.s3_bucket, settings.s3_prefix, settings.aws_region, settings.s3_endpoint_url
    )


def storage_for_uri(uri: str, env: Mapping[str, str]) -> ResultStorage:
    """A store that can write to ``uri``, whatever the worker's own settings say.

    A ``file://`` URI needs only its path; an ``s3://`` one takes its bucket and key
    from the URI, and the endpoint and region from ``env``.
    """
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        return LocalStorage(file_uri_path(uri))
    if scheme == "s3":
        bucket, key = s3_uri_parts(uri)
        return _s3(
            bucket, key, env_optional(env, "AWS_REGION"), env_optional(env, "SHOAL_S3_ENDPOINT_URL")
        )
    raise ValueError(f"unsupported storage URI: {uri!r}")


def _s3(bucket: str, prefix: str, region: str | None, endpoint_url: str | None) -> S3Storage:
    from shared.storage.s3 import S3Storage  # noqa: PLC0415 - boto3 only for s3://, not in the base install

    return S3Storage(bucket, prefix, region=region, endpoint_url=endpoint_url)
