"""The public Application Load Balancer in front of the web API."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from shoal_deploy.config import DeployConfig
from shoal_deploy.network import Network

HEALTH_CHECK_PATH = "/api/health"


class Ingress(Construct):
    """ALB, listeners and the web API's target group.

    With a certificate, HTTPS serves the API and HTTP only redirects to it; without one,
    HTTP serves it (fine for trying shoal out, not for real credentials).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        network: Network,
        container_port: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=network.vpc,
            internet_facing=True,
            security_group=network.alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            # Above the 30 s long poll of /api/jobs/claim, so claims are not cut off.
            idle_timeout=Duration.seconds(65),
            drop_invalid_header_fields=True,
        )
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "WebApiTargets",
            vpc=network.vpc,
            port=container_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(35),
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self.https = config.certificate_arn is not None
        if config.certificate_arn is not None:
            self._https(config.certificate_arn)
        else:
            self.alb.add_listener(
                "Http", port=80, open=True, default_target_groups=[self.target_group]
            )
        host = config.domain or self.alb.load_balancer_dns_name
        self.url = f"{'https' if self.https else 'http'}://{host}"

    def _https(self, certificate_arn: str) -> None:
        self.alb.add_listener(
            "Https",
            port=443,
            open=True,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_target_groups=[self.target_group],
        )
        self.alb.add_listener(
            "Http",
            port=80,
            open=True,
            default_action=elbv2.ListenerAction.redirect(protocol="HTTPS", port="443"),
        )
