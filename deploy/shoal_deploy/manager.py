"""The manager: one task that launches worker tasks as the queue grows."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shoal_deploy import iam as policies
from shoal_deploy.config import DeployConfig
from shoal_deploy.containers import container_image, log_driver
from shoal_deploy.network import Network
from shoal_deploy.workers import WORKER_CONTAINER, Workers, type_family_prefix

MANAGER_CONTAINER = "manager"


def manager_config(config: DeployConfig, network: Network, workers: Workers) -> dict[str, Any]:
    """The document the manager reads from ``SHOAL_MANAGER_CONFIG_JSON``.

    Its shape is ``manager.config_schema.ConfigSchema``: per job type, the scaling policy
    and the ``ecs`` target one ``ecs:RunTask`` call needs; for the types registered over
    the API, the base task definition and family prefix of their own task definitions.
    """
    placement = {
        "cluster": network.cluster.cluster_arn,
        "subnets": network.task_subnet_ids(),
        "securityGroups": [network.worker_sg.security_group_id],
        "assignPublicIp": network.assign_public_ip,
        "launchType": "FARGATE",
        "containerName": WORKER_CONTAINER,
    }
    return {
        "jobTypes": {
            job_type.name: {
                "policy": {
                    "min": job_type.min,
                    "max": job_type.max,
                    "cooldownSeconds": job_type.cooldown_seconds,
                    "sensitivity": job_type.sensitivity,
                    "factor": job_type.factor,
                },
                "ecs": {
                    "taskDefinition": workers.task_definitions[job_type.name].task_definition_arn,
                    **placement,
                },
            }
            for job_type in config.job_types
        },
        "registered": {
            "ecs": {
                "baseTaskDefinition": workers.base.task_definition_arn,
                "familyPrefix": type_family_prefix(config.name_prefix),
                **placement,
            }
        },
    }


class Manager(Construct):
    """A service of exactly one task: two managers would both launch for the same backlog."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        network: Network,
        workers: Workers,
        api_url: str,
        api_key: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        family = f"{config.name_prefix}-manager"
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDef",
            family=family,
            cpu=config.manager.cpu,
            memory_limit_mib=config.manager.memory,
        )
        document = Stack.of(self).to_json_string(manager_config(config, network, workers))
        self.task_definition.add_container(
            MANAGER_CONTAINER,
            image=container_image(self, "Image", config.images.manager),
            command=["shoal", "manager"],
            environment={
                "SHOAL_API_URL": api_url,
                "SHOAL_COMPUTE_BACKEND": "ecs",
                "SHOAL_MANAGER_CONFIG_JSON": document,
                "AWS_REGION": config.region,
            },
            secrets={"SHOAL_API_KEY": ecs.Secret.from_secrets_manager(api_key)},
            logging=log_driver(self, "Logs", f"/ecs/{family}"),
        )
        type_prefix = type_family_prefix(config.name_prefix)
        for statement in [
            *policies.manager_launch(
                self,
                network.cluster,
                [*workers.families, f"{type_prefix}*"],
                [workers.task_role, workers.execution_role],
            ),
            *policies.manager_register_types(self, type_prefix),
        ]:
            self.task_definition.add_to_task_role_policy(statement)
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=network.cluster,
            task_definition=self.task_definition,
            desired_count=config.manager.desired_count,
            # Stop the old manager before starting the new one, so never two at once.
            min_healthy_percent=0,
            max_healthy_percent=100,
            vpc_subnets=network.task_subnets,
            assign_public_ip=network.assign_public_ip,
            security_groups=[network.manager_sg],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
