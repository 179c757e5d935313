"""The deployment config file: one JSON document parsed into frozen dataclasses.

Every bad value raises ``ConfigError`` with a message that names the field by its
dotted path (``jobTypes[1].memory: ...``), so a typo fails before anything is synthesized.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal_deploy.fields import ConfigError, Fields, fail

# Fargate's valid memory sizes (MiB) for each CPU size (units of 1/1024 vCPU).
_FARGATE_MEMORY: dict[int, range] = {
    256: range(512, 2048 + 1, 512),
    512: range(1024, 4096 + 1, 1024),
    1024: range(2048, 8192 + 1, 1024),
    2048: range(4096, 16384 + 1, 1024),
    4096: range(8192, 30720 + 1, 1024),
    8192: range(16384, 61440 + 1, 4096),
    16384: range(32768, 122880 + 1, 8192),
}
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
_JOB_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ECR_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
# An image prefix with its registry host: "ghcr.io/lab/", never "*" or a bare name.
_IMAGE_PREFIX = re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?/[A-Za-z0-9._/:@-]*$")
_SECRETS_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/$")

__all__ = [
    "ConfigError",
    "DatabaseConfig",
    "DeployConfig",
    "ImagesConfig",
    "JobTypeConfig",
    "RegisteredTypesConfig",
    "ResultsConfig",
    "ServiceConfig",
    "load_config",
    "parse_config",
]


@dataclass(frozen=True)
class DatabaseConfig:
    instance_class: str
    allocated_storage_gb: int
    multi_az: bool
    backup_retention_days: int
    deletion_protection: bool


@dataclass(frozen=True)
class ResultsConfig:
    bucket_name: str | None
    prefix: str
    expire_after_days: int
    cors_origins: tuple[str, ...]


@dataclass(frozen=True)
class ImagesConfig:
    webapi: str
    manager: str
    worker: str


@dataclass(frozen=True)
class ServiceConfig:
    cpu: int
    memory: int
    desired_count: int


@dataclass(frozen=True)
class JobTypeConfig:
    name: str
    cpu: int
    memory: int
    image: str
    command: tuple[str, ...]
    min: int
    max: int
    cooldown_seconds: int
    sensitivity: float
    factor: float


@dataclass(frozen=True)
class RegisteredTypesConfig:
    """The base worker task definition of the types registered over the API, and what
    their images and secrets may be."""

    cpu: int
    memory: int
    ecr_repositories: tuple[str, ...]
    allowed_images: tuple[str, ...]
    secrets_prefix: str

    def image_prefixes(self, account: str, region: str) -> list[str]:
        """Exactly the ECR repositories the worker execution role may pull from (by tag or
        digest), then the other allowed prefixes: the web API's SHOAL_ALLOWED_IMAGES."""
        registry = f"{account}.dkr.ecr.{region}.amazonaws.com"
        ecr = [f"{registry}/{name}{mark}" for name in self.ecr_repositories for mark in ":@"]
        return [*ecr, *self.allowed_images]


@dataclass(frozen=True)
class DeployConfig:
    region: str
    account: str | None
    name_prefix: str
    domain: str | None
    certificate_arn: str | None
    allow_plain_http: bool
    nat_gateways: int
    database: DatabaseConfig
    results: ResultsConfig
    images: ImagesConfig
    webapi: ServiceConfig
    manager: ServiceConfig
    job_types: tuple[JobTypeConfig, ...]
    registered_types: RegisteredTypesConfig

    @property
    def https(self) -> bool:
        return self.certificate_arn is not None


def load_config(path: str | Path) -> DeployConfig:
    """Read and validate the config file at ``path``."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    return parse_config(raw)


def parse_config(raw: Any) -> DeployConfig:
    """Validate a decoded config document."""
    top = Fields.of(raw, "")
    domain = top.optional_str("domain", _DOMAIN, "a lower-case DNS name")
    certificate_arn = top.optional_str("certificateArn", _CERT_ARN, "an ACM certificate ARN")
    if certificate_arn is not None and domain is None:
        fail("domain", "is required when certificateArn is set (the certificate names it)")
    allow_plain_http = _plain_http(top, certificate_arn)
    images = _images(top.section("images"))
    config = DeployConfig(
        region=top.string("region", _REGION, "an AWS region such as eu-west-1"),
        account=top.optional_str("account", _ACCOUNT, "a 12-digit AWS account id"),
        name_prefix=top.string("namePrefix", _PREFIX, "3-20 of a-z, 0-9 and -"),
        domain=domain,
        certificate_arn=certificate_arn,
        allow_plain_http=allow_plain_http,
        nat_gateways=top.integer("natGateways", 0, 3),
        database=_database(top.section("database")),
        results=_results(top.section("results")),
        images=images,
        webapi=_service(top.section("webapi"), desired=(1, 1, 20)),
        # 0 pauses autoscaling, e.g. on the first deploy before the worker API key exists
        manager=_service(top.section("manager"), desired=(1, 0, 1)),
        job_types=_job_types(top.items("jobTypes"), images.worker),
        registered_types=_registered_types(top, top.string("namePrefix")),
    )
    top.done()
    return config


def _plain_http(top: Fields, certificate_arn: str | None) -> bool:
    """Plain HTTP carries passwords, tokens and the WORKER key in clear: only on request."""
    allowed = top.boolean("allowPlainHttp", default=False)
    if certificate_arn is None and not allowed:
        fail(
            "certificateArn",
            "is required (with domain): without it the API would be served over plain "
            "HTTP, passwords and API keys included (set allowPlainHttp: true to accept "
            "that, e.g. for a trial)",
        )
    if certificate_arn is not None and allowed:
        fail("allowPlainHttp", "must not be true when certificateArn is set (HTTP redirects)")
    return allowed


def _database(section: Fields) -> DatabaseConfig:
    instance_class = section.string("instanceClass", re.compile(r"^(db\.)?[a-z0-9]+\.[a-z0-9]+$"))
    config = DatabaseConfig(
        instance_class=instance_class.removeprefix("db."),
        allocated_storage_gb=section.integer("allocatedStorageGb", 20, 65536),
        multi_az=section.boolean("multiAz"),
        backup_retention_days=section.integer("backupRetentionDays", 1, 35),
        deletion_protection=section.boolean("deletionProtection", default=True),
    )
    section.done()
    return config


def _results(section: Fields) -> ResultsConfig:
    prefix = section.optional_str("prefix", re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")) or "results/"
    if prefix.startswith("/") or not prefix.endswith("/"):
        fail(section.path("prefix"), f"must end with / and not start with one, got {prefix!r}")
    config = ResultsConfig(
        bucket_name=section.optional_str("bucketName", _BUCKET, "a valid S3 bucket name"),
        prefix=prefix,
        expire_after_days=section.integer("expireAfterDays", 1, 3650),
        cors_origins=section.string_list("corsOrigins", default=("*",)),
    )
    section.done()
    return config


def _images(section: Fields) -> ImagesConfig:
    config = ImagesConfig(
        webapi=section.string("webapi"),
        manager=section.string("manager"),
        worker=section.string("worker"),
    )
    section.done()
    return config


def _service(section: Fields, *, desired: tuple[int, int, int]) -> ServiceConfig:
    cpu, memory = _cpu_memory(section)
    default, low, high = desired
    count = section.integer("desiredCount", low, high, default=default)
    section.done()
    return ServiceConfig(cpu=cpu, memory=memory, desired_count=count)


def _cpu_memory(section: Fields) -> tuple[int, int]:
    cpu = section.integer("cpu", 256, 16384)
    if cpu not in _FARGATE_MEMORY:
        fail(section.path("cpu"), f"must be one of {sorted(_FARGATE_MEMORY)}, got {cpu}")
    memory = section.integer("memory", 512, 122880)
    allowed = _FARGATE_MEMORY[cpu]
    if memory not in allowed:
        fail(
            section.path("memory"),
            f"must be {allowed.start}-{allowed.stop - 1} in steps of {allowed.step} "
            f"for cpu {cpu} on Fargate, got {memory}",
        )
    return cpu, memory


def _registered_types(top: Fields, name_prefix: str) -> RegisteredTypesConfig:
    section = top.optional_section("registeredTypes")
    cpu, memory = (
        _cpu_memory(section) if section.has("cpu") or section.has("memory") else (256, 512)
    )
    config = RegisteredTypesConfig(
        cpu=cpu,
        memory=memory,
        ecr_repositories=section.string_list("ecrRepositories", default=()),
        allowed_images=section.string_list("allowedImages", default=()),
        secrets_prefix=section.optional_str(
            "secretsPrefix", _SECRETS_PREFIX, "a path ending with /, such as shoal/types/"
        )
        or f"{name_prefix}/types/",
    )
    for i, repository in enumerate(config.ecr_repositories):
        if not _ECR_REPOSITORY.match(repository):
            fail(
                f"registeredTypes.ecrRepositories[{i}]",
                f"not an ECR repository name: {repository!r}",
            )
    for i, prefix in enumerate(config.allowed_images):
        if not _IMAGE_PREFIX.match(prefix):
            fail(
                f"registeredTypes.allowedImages[{i}]",
                f"must be an image prefix with its registry, such as ghcr.io/lab/, got {prefix!r}",
            )
    section.done()
    return config


def _job_types(sections: list[Fields], default_image: str) -> tuple[JobTypeConfig, ...]:
    if not sections:
        fail("jobTypes", "must list at least one job type")
    seen: set[str] = set()
    result = []
    for section in sections:
        job_type = _job_type(section, default_image)
        if job_type.name in seen:
            fail(section.path("name"), f"duplicate job type {job_type.name!r}")
        seen.add(job_type.name)
        result.append(job_type)
    return tuple(result)


def _job_type(section: Fields, default_image: str) -> JobTypeConfig:
    name = section.string("name", _JOB_TYPE, "an upper-case letter, then A-Z, 0-9 or _")
    cpu, memory = _cpu_memory(section)
    default_command = ("shoal", "worker", "--job-types", name)
    low = section.integer("min", 0, 100)
    high = section.integer("max", 0, 1000)
    if high < low:
        fail(section.path("max"), f"must be at least min ({low}), got {high}")
    config = JobTypeConfig(
        name=name,
        cpu=cpu,
        memory=memory,
        image=section.optional_str("image") or default_image,
        command=section.string_list("command", default=default_command),
        min=low,
        max=high,
        cooldown_seconds=section.integer("cooldownSeconds", 0, 86400),
        sensitivity=section.number("sensitivity", 0.0, 1000.0),
        factor=section.number("factor", 0.0, 1000.0),
    )
    if config.factor <= 0:
        fail(section.path("factor"), f"must be greater than 0, got {config.factor}")
    section.done()
    return config
