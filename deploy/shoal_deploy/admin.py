"""A one-off task that creates the first admin, its password read from Secrets Manager."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from shoal_deploy.config import DeployConfig
from shoal_deploy.containers import container_image, database_secrets, log_driver
from shoal_deploy.data import Database

ADMIN_CONTAINER = "first-admin"
ADMIN_EMAIL = "SHOAL_ADMIN_EMAIL"
ADMIN_PASSWORD = "SHOAL_ADMIN_PASSWORD"
# The email comes as an environment override (not a secret); the password only ever
# from the task definition's secret, so neither DescribeTasks nor CloudTrail shows it.
CREATE_COMMAND = (
    f'shoal db users create "${{{ADMIN_EMAIL}:?set {ADMIN_EMAIL}}}" '
    f'--password "${ADMIN_PASSWORD}" --role ADMIN --exists-ok'
)


class FirstAdmin(Construct):
    """The web API image with the database fields and the first admin's password.

    Run it once with ``aws ecs run-task`` (deploy/README.md); it is no service.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        database: Database,
        password: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        family = f"{config.name_prefix}-first-admin"
        self.task_definition = ecs.FargateTaskDefinition(
            self, "TaskDef", family=family, cpu=256, memory_limit_mib=512
        )
        self.task_definition.add_container(
            ADMIN_CONTAINER,
            image=container_image(self, "Image", config.images.webapi),
            entry_point=["sh", "-c"],
            command=[CREATE_COMMAND],
            secrets={
                **database_secrets(database.attached_secret),
                ADMIN_PASSWORD: ecs.Secret.from_secrets_manager(password),
            },
            logging=log_driver(self, "Logs", f"/ecs/{family}"),
        )
