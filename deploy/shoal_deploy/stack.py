"""The platform stack, and the app that pairs it with the secrets stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack, Tags
from constructs import Construct

from shoal_deploy.admin import FirstAdmin
from shoal_deploy.config import DeployConfig
from shoal_deploy.data import Database, ResultsBucket
from shoal_deploy.ingress import Ingress
from shoal_deploy.manager import Manager
from shoal_deploy.network import Network
from shoal_deploy.secrets import ShoalSecretsStack
from shoal_deploy.webapi import WEBAPI_PORT, WebApi
from shoal_deploy.workers import Workers

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


class ShoalStack(Stack):
    """Network, database, results bucket, load balancer and the three kinds of service."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        secrets: ShoalSecretsStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        network = Network(self, "Network", nat_gateways=config.nat_gateways)
        database = Database(self, "Database", config=config.database, network=network)
        results = ResultsBucket(self, "Results", config=config.results)
        ingress = Ingress(
            self, "Ingress", config=config, network=network, container_port=WEBAPI_PORT
        )
        self.workers = Workers(
            self,
            "Workers",
            config=config,
            network=network,
            results=results,
            api_url=ingress.url,
            api_key=secrets.worker_api_key,
        )
        self.webapi = WebApi(
            self,
            "WebApi",
            config=config,
            network=network,
            ingress=ingress,
            database=database,
            results=results,
            jwt_keys=secrets.jwt_keys,
            worker_service=self.workers.service,
        )
        self.manager = Manager(
            self,
            "Manager",
            config=config,
            network=network,
            workers=self.workers,
            api_url=ingress.url,
            api_key=secrets.manager_api_key,
        )
        self.first_admin = FirstAdmin(
            self,
            "FirstAdmin",
            config=config,
            database=database,
            password=secrets.first_admin_password,
        )
        self._outputs(network, ingress, results, database)

    def _outputs(
        self, network: Network, ingress: Ingress, results: ResultsBucket, database: Database
    ) -> None:
        values = {
            "ApiUrl": ingress.url,
            "LoadBalancerDns": ingress.alb.load_balancer_dns_name,
            "ClusterName": network.cluster.cluster_name,
            "WebApiTaskFamily": self.webapi.task_definition.family,
            "FirstAdminTaskFamily": self.first_admin.task_definition.family,
            "TaskSubnets": ",".join(network.task_subnet_ids()),
            "WebApiSecurityGroup": network.webapi_sg.security_group_id,
            "AssignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
            "ResultsBucket": results.bucket.bucket_name,
            "DatabaseSecretArn": database.secret.secret_arn,
            "WorkerServiceName": self.workers.service.service_name,
        }
        for name, value in values.items():
            CfnOutput(self, name, value=value)


@dataclass(frozen=True)
class ShoalApp:
    app: App
    secrets: ShoalSecretsStack
    platform: ShoalStack


def build_app(config: DeployConfig, *, outdir: str | None = None) -> ShoalApp:
    """The CDK app for ``config``, with the feature flags of ``deploy/cdk.json``."""
    context = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    app = App(outdir=outdir, context=context)
    env = Environment(account=config.account, region=config.region)
    secrets = ShoalSecretsStack(app, f"{config.name_prefix}-secrets", env=env)
    platform = ShoalStack(app, config.name_prefix, config=config, secrets=secrets, env=env)
    for stack in (secrets, platform):
        Tags.of(stack).add("shoal:deployment", config.name_prefix)
    return ShoalApp(app=app, secrets=secrets, platform=platform)
