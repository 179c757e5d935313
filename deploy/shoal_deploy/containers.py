"""Pieces every container definition shares: images, log groups, injected secrets."""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

# account.dkr.ecr.region.amazonaws.com[.cn]/repository(:tag | @sha256:digest)
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def container_image(scope: Construct, construct_id: str, uri: str) -> ecs.ContainerImage:
    """An image by URI; ECR images go through the repository so pulls are granted per repo."""
    match = _ECR_URI.match(uri)
    if match is None:
        return ecs.ContainerImage.from_registry(uri)
    partition = "aws-cn" if ".amazonaws.com.cn/" in uri else "aws"
    arn = (
        f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
    )
    repository = ecr.Repository.from_repository_attributes(
        scope, construct_id, repository_arn=arn, repository_name=match["repository"]
    )
    return ecs.ContainerImage.from_ecr_repository(
        repository, match["digest"] or match["tag"] or "latest"
    )


def log_driver(scope: Construct, construct_id: str, name: str) -> ecs.LogDriver:
    """awslogs into a log group of its own that keeps a month of history."""
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=LOG_RETENTION,
        # Logs are worth nothing once the platform is gone; do not strand them.
        removal_policy=RemovalPolicy.DESTROY,
    )
    return ecs.LogDrivers.aws_logs(stream_prefix="ecs", log_group=group)


def database_secrets(secret: secretsmanager.ISecret) -> dict[str, ecs.Secret]:
    """The connection fields of the RDS secret, one variable each (the web API joins them)."""
    fields = {
        "SHOAL_DB_HOST": "host",
        "SHOAL_DB_PORT": "port",
        "SHOAL_DB_USER": "username",
        "SHOAL_DB_PASSWORD": "password",
        "SHOAL_DB_NAME": "dbname",
    }
    return {name: ecs.Secret.from_secrets_manager(secret, key) for name, key in fields.items()}
