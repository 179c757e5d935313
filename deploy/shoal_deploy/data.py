"""PostgreSQL on RDS and the S3 bucket for result files."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from constructs import Construct

from shoal_deploy.config import DatabaseConfig, ResultsConfig
from shoal_deploy.network import POSTGRES_PORT, Network

DB_NAME = "shoal"
DB_USER = "shoal"


class Database(Construct):
    """A private, encrypted PostgreSQL whose credentials Secrets Manager generates."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: DatabaseConfig, network: Network
    ) -> None:
        super().__init__(scope, construct_id)
        # Our own secret so it is sure to carry dbname next to host/port/username/password.
        self.secret = rds.DatabaseSecret(self, "Secret", username=DB_USER, dbname=DB_NAME)
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            # Major version only: RDS picks its current minor and auto-upgrades within it,
            # so the template never names a minor that AWS has since retired.
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17),
            instance_type=ec2.InstanceType(config.instance_class),
            credentials=rds.Credentials.from_secret(self.secret),
            database_name=DB_NAME,
            port=POSTGRES_PORT,
            vpc=network.vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[network.database_sg],
            publicly_accessible=False,
            storage_encrypted=True,
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.allocated_storage_gb * 2,
            storage_type=rds.StorageType.GP3,
            multi_az=config.multi_az,
            backup_retention=Duration.days(config.backup_retention_days),
            deletion_protection=config.deletion_protection,
            # A final snapshot survives `cdk destroy`; the data is the platform's history.
            removal_policy=RemovalPolicy.SNAPSHOT,
            auto_minor_version_upgrade=True,
        )
        # The secret as attached to the instance: only then does it hold host and port.
        # Its ARN is the attachment's, so whatever reads it waits for the attachment.
        attached = self.instance.secret
        assert attached is not None  # credentials come from a secret
        self.attached_secret = attached

    def readiness(self) -> list[Construct]:
        """What a task reading the connection fields must wait for on a first deploy."""
        return [self.instance, self.attached_secret]


class ResultsBucket(Construct):
    """Private, encrypted, TLS-only; old results expire; browsers may GET presigned URLs."""

    def __init__(self, scope: Construct, construct_id: str, *, config: ResultsConfig) -> None:
        super().__init__(scope, construct_id)
        self.prefix = config.prefix
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=config.bucket_name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    prefix=config.prefix,
                    expiration=Duration.days(config.expire_after_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                    allowed_origins=list(config.cors_origins),
                    allowed_headers=["*"],
                    max_age=3600,
                )
            ],
            # Results are what users came for: keep them when the stack goes.
            removal_policy=RemovalPolicy.RETAIN,
        )

    def objects_arn(self) -> str:
        """The ARN pattern of every object under the results prefix."""
        return self.bucket.arn_for_objects(f"{self.prefix}*")
