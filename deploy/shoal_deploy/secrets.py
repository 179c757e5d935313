"""The secrets an operator fills by hand, in a stack of their own.

They live apart from the platform so they can be created and filled before the web API's
first start, and so a ``cdk destroy`` of the platform keeps them.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

JWT_PRIVATE_KEY = "SHOAL_JWT_PRIVATE_KEY"
JWT_PUBLIC_KEY = "SHOAL_JWT_PUBLIC_KEY"


class ShoalSecretsStack(Stack):
    """The JWT signing key pair, the workers' WORKER API key, the manager's MANAGER key and
    the first admin's password."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Placeholders, so both JSON keys exist; the web API refuses them until replaced.
        self.jwt_keys = secretsmanager.Secret(
            self,
            "JwtKeys",
            description="shoal web API JWT key pair (PEM); fill as documented in deploy/README.md",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({JWT_PUBLIC_KEY: "replace with a PEM"}),
                generate_string_key=JWT_PRIVATE_KEY,
            ),
        )
        self.worker_api_key = secretsmanager.Secret(
            self,
            "WorkerApiKey",
            description="shoal WORKER API key used by the workers",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
        )
        self.manager_api_key = secretsmanager.Secret(
            self,
            "ManagerApiKey",
            description="shoal MANAGER API key used by the manager",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
        )
        # Generated, read by the one-off first-admin task; change it after the first login.
        self.first_admin_password = secretsmanager.Secret(
            self,
            "FirstAdminPassword",
            description="shoal first admin's initial password (the first-admin task reads it)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=32
            ),
        )
        CfnOutput(self, "JwtKeysSecretArn", value=self.jwt_keys.secret_arn)
        CfnOutput(self, "WorkerApiKeySecretArn", value=self.worker_api_key.secret_arn)
        CfnOutput(self, "FirstAdminPasswordSecretArn", value=self.first_admin_password.secret_arn)
        CfnOutput(self, "ManagerApiKeySecretArn", value=self.manager_api_key.secret_arn)
