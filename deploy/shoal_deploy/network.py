"""The VPC, the ECS cluster and one security group per tier."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

POSTGRES_PORT = 5432


class Network(Construct):
    """Subnets and security groups shared by every service.

    With NAT gateways the tasks run in private subnets; without, they run in the public
    subnets with a public IP (no inbound rule lets anything reach them) — cheaper, and the
    only way tasks can pull images and reach AWS APIs without NAT or interface endpoints.
    The database always sits in isolated subnets.
    """

    def __init__(self, scope: Construct, construct_id: str, *, nat_gateways: int) -> None:
        super().__init__(scope, construct_id)
        subnets = [
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
            ec2.SubnetConfiguration(name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ]
        if nat_gateways:
            subnets.append(
                ec2.SubnetConfiguration(name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            )
        self.vpc = ec2.Vpc(
            self, "Vpc", max_azs=2, nat_gateways=nat_gateways, subnet_configuration=subnets
        )
        # Free, and keeps result uploads off the NAT gateways' per-GB bill.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.private_tasks = nat_gateways > 0
        self.task_subnets = ec2.SubnetSelection(
            subnet_type=(
                ec2.SubnetType.PRIVATE_WITH_EGRESS if self.private_tasks else ec2.SubnetType.PUBLIC
            )
        )
        self.data_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.cluster = ecs.Cluster(self, "Cluster", vpc=self.vpc)
        self.alb_sg = self._group("Alb", "shoal load balancer")
        self.webapi_sg = self._group("WebApi", "shoal web API tasks")
        self.manager_sg = self._group("Manager", "shoal manager task")
        self.worker_sg = self._group("Worker", "shoal worker tasks")
        self.database_sg = self._group("Database", "shoal PostgreSQL")
        self.database_sg.add_ingress_rule(
            self.webapi_sg, ec2.Port.tcp(POSTGRES_PORT), "only the web API reaches the database"
        )

    @property
    def assign_public_ip(self) -> bool:
        return not self.private_tasks

    def task_subnet_ids(self) -> list[str]:
        return self.vpc.select_subnets(subnet_type=self.task_subnets.subnet_type).subnet_ids

    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self,
            f"{construct_id}Sg",
            vpc=self.vpc,
            description=description,
            allow_all_outbound=True,
        )
