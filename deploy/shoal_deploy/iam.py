"""Least-privilege policy statements for the three task roles.

No statement that launches tasks, passes roles or writes to S3 has a ``*`` resource; the
few read-only ECS list calls that IAM cannot scope by resource are held to the cluster by
an ``ecs:cluster`` condition instead. The three task definition calls the manager makes
for registered types take no resource in IAM at all; what such a task definition can do
is held by ``iam:PassRole`` (the two worker roles) and ``ecs:RunTask`` (the type
families, in the cluster).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from shoal_deploy.data import ResultsBucket


def _in_cluster(cluster: ecs.ICluster) -> dict[str, dict[str, str]]:
    return {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}


def cluster_tasks_arn(scope: Construct, cluster: ecs.ICluster) -> str:
    """Every task of the cluster, in the long ARN format (task/<cluster>/<id>)."""
    return Stack.of(scope).format_arn(
        service="ecs",
        resource="task",
        resource_name=f"{cluster.cluster_name}/*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def task_family_arn(scope: Construct, family: str) -> str:
    """Every revision of one task definition family."""
    return Stack.of(scope).format_arn(
        service="ecs",
        resource="task-definition",
        resource_name=f"{family}:*",
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


def read_cluster_tasks(scope: Construct, cluster: ecs.ICluster) -> list[iam.PolicyStatement]:
    """List and describe the tasks of one cluster (ListTasks has no resource to scope)."""
    return [
        iam.PolicyStatement(
            actions=["ecs:ListTasks"], resources=["*"], conditions=_in_cluster(cluster)
        ),
        iam.PolicyStatement(
            actions=["ecs:DescribeTasks", "ecs:ListTagsForResource"],
            resources=[cluster_tasks_arn(scope, cluster)],
        ),
    ]


def worker_upload(results: ResultsBucket) -> list[iam.PolicyStatement]:
    """Workers write result files under the prefix, and nothing else in S3."""
    return [
        iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[results.objects_arn()],
        )
    ]


def webapi_results(results: ResultsBucket) -> list[iam.PolicyStatement]:
    """Read and list results, which is what presigning download URLs needs."""
    return [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[results.objects_arn()]),
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[results.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{results.prefix}*"]}},
        ),
    ]


def webapi_worker_service(service: ecs.IBaseService) -> list[iam.PolicyStatement]:
    """The admin routes: read, scale and redeploy the standing worker service only."""
    return [
        iam.PolicyStatement(
            actions=["ecs:DescribeServices", "ecs:UpdateService"],
            resources=[service.service_arn],
        )
    ]


def manager_launch(
    scope: Construct,
    cluster: ecs.ICluster,
    families: Sequence[str],
    worker_roles: Sequence[iam.IRole],
) -> list[iam.PolicyStatement]:
    """Run, tag, watch and stop worker tasks in the cluster, passing only the worker roles."""
    tasks = cluster_tasks_arn(scope, cluster)
    return [
        iam.PolicyStatement(
            actions=["ecs:RunTask"],
            resources=[task_family_arn(scope, family) for family in families],
            conditions=_in_cluster(cluster),
        ),
        iam.PolicyStatement(
            # RunTask with tags also needs TagResource on the task it creates.
            actions=["ecs:TagResource"],
            resources=[tasks],
            conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
        ),
        iam.PolicyStatement(actions=["ecs:StopTask"], resources=[tasks]),
        *read_cluster_tasks(scope, cluster),
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[role.role_arn for role in worker_roles],
            conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        ),
    ]


def manager_register_types(scope: Construct, type_prefix: str) -> list[iam.PolicyStatement]:
    """Find, register and tag the task definitions of registered types (families
    ``<type_prefix>*``); registering needs the content-hash tag the manager sets."""
    families = task_family_arn(scope, f"{type_prefix}*")
    return [
        iam.PolicyStatement(
            actions=["ecs:RegisterTaskDefinition"],
            resources=["*"],
            conditions={"Null": {"aws:RequestTag/shoal:content-hash": "false"}},
        ),
        iam.PolicyStatement(
            actions=["ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions"], resources=["*"]
        ),
        iam.PolicyStatement(
            actions=["ecs:TagResource"],
            resources=[families],
            conditions={"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}},
        ),
        iam.PolicyStatement(actions=["ecs:ListTagsForResource"], resources=[families]),
    ]


def execution_reads_type_secrets(scope: Construct, prefix: str) -> list[iam.PolicyStatement]:
    """ECS injects a registered type's ``run.secrets`` at start: the execution role reads
    the Secrets Manager secrets and SSM parameters named under ``prefix``, and no others.
    The task role (the program's own credentials) reads none of them."""
    stack = Stack.of(scope)
    # Secrets Manager names the secret after a colon, SSM the parameter after a slash.
    kinds = {
        "secretsmanager:GetSecretValue": (
            "secretsmanager",
            "secret",
            ArnFormat.COLON_RESOURCE_NAME,
        ),
        "ssm:GetParameters": ("ssm", "parameter", ArnFormat.SLASH_RESOURCE_NAME),
    }
    return [
        iam.PolicyStatement(
            actions=[action],
            resources=[
                stack.format_arn(
                    service=service, resource=kind, resource_name=f"{prefix}*", arn_format=form
                )
            ],
        )
        for action, (service, kind, form) in kinds.items()
    ]
