"""The web API: a Fargate service behind the load balancer, migrating the database at start."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shoal_deploy import iam as policies
from shoal_deploy.config import DeployConfig
from shoal_deploy.containers import container_image, database_secrets, log_driver
from shoal_deploy.data import Database, ResultsBucket
from shoal_deploy.ingress import Ingress
from shoal_deploy.network import Network
from shoal_deploy.secrets import JWT_PRIVATE_KEY, JWT_PUBLIC_KEY

WEBAPI_CONTAINER = "webapi"
WEBAPI_PORT = 8000
# Migrations run before every start. Alembic applies them in one transaction, so a second
# task starting at the same time either waits on the first's locks or fails and is restarted
# by ECS; either way only one set of migrations is applied and every start sees a current schema.
START_COMMAND = "shoal db upgrade && exec shoal webapi"


class WebApi(Construct):
    """The web API service, its target registration and its task role's permissions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        network: Network,
        ingress: Ingress,
        database: Database,
        results: ResultsBucket,
        jwt_keys: secretsmanager.ISecret,
        worker_service: ecs.IBaseService,
    ) -> None:
        super().__init__(scope, construct_id)
        family = f"{config.name_prefix}-webapi"
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDef",
            family=family,
            cpu=config.webapi.cpu,
            memory_limit_mib=config.webapi.memory,
        )
        self.task_definition.add_container(
            WEBAPI_CONTAINER,
            image=container_image(self, "Image", config.images.webapi),
            entry_point=["sh", "-c"],
            command=[START_COMMAND],
            port_mappings=[ecs.PortMapping(container_port=WEBAPI_PORT)],
            environment=_environment(config, network, ingress, results, worker_service),
            secrets={
                **database_secrets(database.attached_secret),
                JWT_PRIVATE_KEY: ecs.Secret.from_secrets_manager(jwt_keys, JWT_PRIVATE_KEY),
                JWT_PUBLIC_KEY: ecs.Secret.from_secrets_manager(jwt_keys, JWT_PUBLIC_KEY),
            },
            logging=log_driver(self, "Logs", f"/ecs/{family}"),
        )
        for statement in [
            *policies.webapi_results(results),
            *policies.webapi_worker_service(worker_service),
        ]:
            self.task_definition.add_to_task_role_policy(statement)
        self.service = self._service(config, network)
        # First deploy: no task may start before the secret has host and port in it, or
        # it fails (ResourceInitializationError), the circuit breaker trips, all rolls back.
        self.service.node.add_dependency(*database.readiness())
        self.service.attach_to_application_target_group(ingress.target_group)
        network.webapi_sg.add_ingress_rule(
            network.alb_sg, ec2.Port.tcp(WEBAPI_PORT), "the load balancer reaches the web API"
        )

    def _service(self, config: DeployConfig, network: Network) -> ecs.FargateService:
        return ecs.FargateService(
            self,
            "Service",
            cluster=network.cluster,
            task_definition=self.task_definition,
            desired_count=config.webapi.desired_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            # Room for the migrations before the load balancer starts judging health.
            health_check_grace_period=Duration.seconds(180),
            vpc_subnets=network.task_subnets,
            assign_public_ip=network.assign_public_ip,
            security_groups=[network.webapi_sg],
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )


def _environment(
    config: DeployConfig,
    network: Network,
    ingress: Ingress,
    results: ResultsBucket,
    worker_service: ecs.IBaseService,
) -> dict[str, str]:
    environment = {
        # gunicorn's own variable: listen where the target group sends traffic.
        "SHOAL_WEBAPI_BIND": f"0.0.0.0:{WEBAPI_PORT}",
        # The load balancer is the one proxy whose X-Forwarded-For is trusted (login limits).
        "SHOAL_TRUSTED_PROXIES": "1",
        "SHOAL_PUBLIC_URL": ingress.url,
        "SHOAL_STORAGE": "s3",
        "SHOAL_S3_BUCKET": results.bucket.bucket_name,
        "SHOAL_S3_PREFIX": results.prefix,
        "SHOAL_COMPUTE_BACKEND": "ecs",
        "SHOAL_ECS_CLUSTER": network.cluster.cluster_name,
        "SHOAL_ECS_SERVICE": worker_service.service_name,
        "AWS_REGION": config.region,
    }
    # The image prefixes registered types may use (an unset variable allows none).
    allowed = config.registered_types.image_prefixes(
        config.account or Stack.of(ingress).account, config.region
    )
    if allowed:
        environment["SHOAL_ALLOWED_IMAGES"] = ",".join(allowed)
    if ingress.https:
        # Port 80 still takes requests (to redirect them): the session cookie must never
        # go there in clear, and browsers should not try plain HTTP again (HSTS).
        environment["SHOAL_UI_SECURE_COOKIES"] = "true"
    return environment
