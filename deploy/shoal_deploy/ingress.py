"""The public Application Load Balancer in front of the web API."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from shoal_deploy.config import DeployConfig
from shoal_deploy.network import Network

HEALTH_CHECK_PATH = "/api/health"
# Above the 30 s long poll of /api/jobs/claim, so claims are not cut off; gunicorn's
# keepalive (webapi/gunicorn_conf.py) must outlast it, or the ALB reuses closed connections.
IDLE_TIMEOUT_SECONDS = 65
# Prometheus' /metrics has no authentication: scrape it inside the VPC, never through here.
PRIVATE_PATHS = ("/metrics", "/metrics/*")


class Ingress(Construct):
    """ALB, listeners and the web API's target group.

    With a certificate, HTTPS serves the API and HTTP only redirects to it; without one,
    HTTP serves it only when the config says ``allowPlainHttp`` (a trial, not real
    credentials). Either way the public listener answers 404 for ``/metrics``.
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
            idle_timeout=Duration.seconds(IDLE_TIMEOUT_SECONDS),
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
        _hide_private_paths(self._serving_listener(config))
        host = config.domain or self.alb.load_balancer_dns_name
        self.url = f"{'https' if self.https else 'http'}://{host}"

    def _serving_listener(self, config: DeployConfig) -> elbv2.ApplicationListener:
        """The listener that forwards to the API: HTTPS, or plain HTTP only when allowed."""
        if config.certificate_arn is not None:
            return self._https(config.certificate_arn)
        if not config.allow_plain_http:
            raise ValueError("neither certificateArn nor allowPlainHttp: refusing plain HTTP")
        return self.alb.add_listener(
            "Http", port=80, open=True, default_target_groups=[self.target_group]
        )

    def _https(self, certificate_arn: str) -> elbv2.ApplicationListener:
        listener = self.alb.add_listener(
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
        return listener


def _hide_private_paths(listener: elbv2.ApplicationListener) -> None:
    listener.add_action(
        "HideMetrics",
        priority=1,
        conditions=[elbv2.ListenerCondition.path_patterns(list(PRIVATE_PATHS))],
        action=elbv2.ListenerAction.fixed_response(
            404, content_type="application/json", message_body='{"message": "Not Found"}'
        ),
    )
