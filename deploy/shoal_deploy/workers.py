"""One task definition per job type, the base of the registered types' task definitions, and
the standing worker service the admin routes scale."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shoal_deploy import iam as policies
from shoal_deploy.config import DeployConfig, JobTypeConfig
from shoal_deploy.containers import container_image, log_driver
from shoal_deploy.data import ResultsBucket
from shoal_deploy.network import Network

WORKER_CONTAINER = "worker"


def worker_family(prefix: str, job_type: str) -> str:
    return f"{prefix}-worker-{job_type.lower().replace('_', '-')}"


def type_family_prefix(prefix: str) -> str:
    """The families the manager registers for registered types start with this."""
    return f"{prefix}-type-"


class Workers(Construct):
    """Worker task definitions sharing one task role and one execution role.

    Sharing the roles keeps the manager's ``iam:PassRole`` down to exactly two ARNs: the
    task definitions the manager registers for registered types are copies of ``base``
    and carry the same two roles.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        network: Network,
        results: ResultsBucket,
        api_url: str,
        api_key: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.task_role = iam.Role(
            self, "TaskRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        for statement in policies.worker_upload(results):
            self.task_role.add_to_principal_policy(statement)
        self.execution_role = iam.Role(
            self, "ExecutionRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com")
        )
        self.environment = {
            "SHOAL_API_URL": api_url,
            "SHOAL_STORAGE": "s3",
            "SHOAL_S3_BUCKET": results.bucket.bucket_name,
            "SHOAL_S3_PREFIX": results.prefix,
            "AWS_REGION": config.region,
        }
        self.api_key = api_key
        self.task_definitions: dict[str, ecs.FargateTaskDefinition] = {
            job_type.name: self._task_definition(job_type) for job_type in config.job_types
        }
        self.base = self._base_task_definition()
        self.service = self._standing_service(network)

    @property
    def families(self) -> list[str]:
        return [definition.family for definition in self.task_definitions.values()]

    def _task_definition(self, job_type: JobTypeConfig) -> ecs.FargateTaskDefinition:
        family = worker_family(self._config.name_prefix, job_type.name)
        return self._definition(
            job_type.name,
            family,
            (job_type.cpu, job_type.memory),
            job_type.image,
            command=list(job_type.command),
            environment={**self.environment, "SHOAL_JOB_TYPES": job_type.name},
        )

    def _base_task_definition(self) -> ecs.FargateTaskDefinition:
        """What the manager copies for each registered type (image, size and environment
        replaced): the worker roles, the log group and the environment every worker needs.
        Its own image is the worker image, so it can be run by hand to try it out."""
        types = self._config.registered_types
        definition = self._definition(
            "Base",
            f"{self._config.name_prefix}-worker-base",
            (types.cpu, types.memory),
            self._config.images.worker,
            command=None,
            environment=self.environment,
        )
        # Pulling the types' images: the repositories the config names, and no other.
        for index, name in enumerate(types.ecr_repositories):
            repository = ecr.Repository.from_repository_name(self, f"TypeRepository{index}", name)
            repository.grant_pull(self.execution_role)
        for statement in policies.execution_reads_type_secrets(self, types.secrets_prefix):
            self.execution_role.add_to_principal_policy(statement)
        return definition

    def _definition(
        self,
        key: str,
        family: str,
        size: tuple[int, int],
        image: str,
        *,
        command: list[str] | None,
        environment: dict[str, str],
    ) -> ecs.FargateTaskDefinition:
        cpu, memory = size
        definition = ecs.FargateTaskDefinition(
            self,
            f"{key}TaskDef",
            family=family,
            cpu=cpu,
            memory_limit_mib=memory,
            task_role=self.task_role,
            execution_role=self.execution_role,
        )
        definition.add_container(
            WORKER_CONTAINER,
            image=container_image(self, f"{key}Image", image),
            command=command,
            environment=environment,
            secrets={"SHOAL_API_KEY": ecs.Secret.from_secrets_manager(self.api_key)},
            logging=log_driver(self, f"{key}Logs", f"/ecs/{family}"),
            # Fargate's maximum: time to finish the upload and report before SIGKILL.
            stop_timeout=Duration.seconds(120),
        )
        return definition

    def _standing_service(self, network: Network) -> ecs.FargateService:
        """The pool ``/api/admin/scale`` sizes; it runs the first job type and starts empty."""
        first = self._config.job_types[0].name
        return ecs.FargateService(
            self,
            "Service",
            cluster=network.cluster,
            task_definition=self.task_definitions[first],
            desired_count=0,
            min_healthy_percent=100,
            max_healthy_percent=200,
            vpc_subnets=network.task_subnets,
            assign_public_ip=network.assign_public_ip,
            security_groups=[network.worker_sg],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
