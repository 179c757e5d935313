"""The web API's settings, read from the environment by an explicit ``from_env()``.

To add a setting: add a field with a default, and read it in ``from_env`` with one of
the ``shared.settings`` helpers so a bad value fails start-up with one line naming
the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.errors import SettingsError
from shared.settings import env_bool, env_choice, env_float, env_int, env_optional, env_str
from webapi.admin.settings import ComputeSettings
from webapi.jobs.settings import JobsSettings
from webapi.store.engine import normalize_url
from webapi.store.usage import REGION
from webapi.ui.settings import UiSettings
from webapi.webhooks.settings import WebhookSettings

MIB = 1024 * 1024


class RegistrationMode(StrEnum):
    """Who may create an account through ``POST /api/auth/register``."""

    OPEN = "open"
    PRE_APPROVED_ONLY = "pre-approved-only"
    CLOSED = "closed"


@dataclass(frozen=True)
class WebSettings:
    database_url: str
    jwt_private_key: str
    jwt_public_key: str
    jwt_access_seconds: int = 3600
    refresh_token_days: int = 30
    max_body_bytes: int = MIB
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window_seconds: int = 900
    # Past a bound, each failure holds the key back: this, doubling, up to the max.
    login_delay_seconds: float = 1.0
    login_max_delay_seconds: float = 60.0
    registration: RegistrationMode = RegistrationMode.OPEN
    registrations_per_address: int = 5
    registration_window_seconds: int = 3600
    db_pool_size: int = 10
    # Every statement of the web API gives up past these (0: never), answering 503, so a
    # locked table or a stuck query fails requests instead of hanging them.
    db_statement_timeout_ms: int = 30_000
    db_lock_timeout_ms: int = 5_000
    # How long a process may trust what it knows of a key or user without a NOTIFY.
    auth_cache_seconds: float = 10.0
    # Cheap password hashing, for tests and benchmarks only.
    password_hash_fast: bool = False
    # How many reverse proxies (a load balancer) sit in front of the API; their
    # X-Forwarded-For entries are trusted to find the client address.
    trusted_proxies: int = 0
    jobs: JobsSettings = field(default_factory=JobsSettings)
    # /api/health also waits for a running manager (``shoal dev``: up means all of it).
    health_requires_manager: bool = False
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    ui: UiSettings = field(default_factory=UiSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # The region whose prices turn usage into cost (docs/accounting.md).
    price_region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebSettings:
        private_key, public_key = jwt_keys_from_env(env)
        return cls(
            database_url=database_url_from_env(env),
            jwt_private_key=private_key,
            jwt_public_key=public_key,
            jwt_access_seconds=env_int(env, "SHOAL_JWT_ACCESS_SECONDS", 3600, 60, 86400 * 7),
            refresh_token_days=env_int(env, "SHOAL_REFRESH_TOKEN_DAYS", 30, 1, 3650),
            max_body_bytes=env_int(env, "SHOAL_MAX_BODY_BYTES", MIB, 1024, 1024 * MIB),
            login_max_failures=env_int(env, "SHOAL_LOGIN_MAX_FAILURES", 5, 1, 10_000),
            login_max_failures_per_address=env_int(
                env, "SHOAL_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 1_000_000
            ),
            login_window_seconds=env_int(env, "SHOAL_LOGIN_WINDOW_SECONDS", 900, 1, 86400 * 7),
            login_delay_seconds=env_float(env, "SHOAL_LOGIN_DELAY_SECONDS", 1.0, 0.01, 3600),
            login_max_delay_seconds=env_float(
                env, "SHOAL_LOGIN_MAX_DELAY_SECONDS", 60.0, 0.01, 86400
            ),
            registration=RegistrationMode(
                env_choice(env, "SHOAL_REGISTRATION", "open", tuple(RegistrationMode))
            ),
            registrations_per_address=env_int(
                env, "SHOAL_REGISTRATIONS_PER_ADDRESS", 5, 1, 1_000_000
            ),
            registration_window_seconds=env_int(
                env, "SHOAL_REGISTRATION_WINDOW_SECONDS", 3600, 1, 86400 * 7
            ),
            db_pool_size=env_int(env, "SHOAL_DB_POOL_SIZE", 10, 1, 500),
            db_statement_timeout_ms=env_int(
                env, "SHOAL_DB_STATEMENT_TIMEOUT_MS", 30_000, 0, 3_600_000
            ),
            db_lock_timeout_ms=env_int(env, "SHOAL_DB_LOCK_TIMEOUT_MS", 5_000, 0, 3_600_000),
            auth_cache_seconds=env_float(env, "SHOAL_AUTH_CACHE_SECONDS", 10.0, 0.0, 3600.0),
            password_hash_fast=env_bool(env, "SHOAL_PASSWORD_HASH_FAST", False),
            trusted_proxies=env_int(env, "SHOAL_TRUSTED_PROXIES", 0, 0, 10),
            jobs=JobsSettings.from_env(env),
            health_requires_manager=env_bool(env, "SHOAL_HEALTH_REQUIRES_MANAGER", False),
            compute=ComputeSettings.from_env(env),
            ui=UiSettings.from_env(env),
            webhooks=WebhookSettings.from_env(env),
            price_region=price_region_from_env(env),
        )


def price_region_from_env(env: Mapping[str, str]) -> str:
    """``SHOAL_PRICE_REGION``, else the AWS region the API runs in, else us-east-1."""
    name = "SHOAL_PRICE_REGION"
    region = env_optional(env, name)
    if region is None:
        name = "AWS_REGION" if env_optional(env, "AWS_REGION") else "AWS_DEFAULT_REGION"
        region = env_optional(env, name) or "us-east-1"
    if not REGION.fullmatch(region):
        raise SettingsError(f"{name} must be an AWS region such as us-east-1, not {region!r}")
    return region


def database_url_from_env(env: Mapping[str, str]) -> str:
    """``DATABASE_URL``, or a URL built from ``SHOAL_DB_HOST`` and friends when it is unset."""
    url = env_optional(env, "DATABASE_URL")
    if url is None and env_optional(env, "SHOAL_DB_HOST") is not None:
        url = _url_from_parts(env)
    if url is None:
        raise SettingsError("DATABASE_URL is required but not set (or set SHOAL_DB_HOST ...)")
    try:
        return normalize_url(url)
    except ValueError:
        raise SettingsError("DATABASE_URL must be a postgresql:// URL") from None


def _url_from_parts(env: Mapping[str, str]) -> str:
    host = env_str(env, "SHOAL_DB_HOST")
    port = env_int(env, "SHOAL_DB_PORT", 5432, 1, 65535)
    user = quote(env_str(env, "SHOAL_DB_USER"), safe="")
    password = quote(env_str(env, "SHOAL_DB_PASSWORD", ""), safe="")
    name = quote(env_str(env, "SHOAL_DB_NAME", "shoal"), safe="")
    credentials = f"{user}:{password}" if password else user
    return f"postgresql://{credentials}@{host}:{port}/{name}"


def jwt_keys_from_env(env: Mapping[str, str]) -> tuple[str, str]:
    """The RS256 key pair as PEM text; the public key is derived when only the private is set."""
    private_pem = _pem(env, "SHOAL_JWT_PRIVATE_KEY")
    if private_pem is None:
        raise SettingsError(
            "SHOAL_JWT_PRIVATE_KEY (or SHOAL_JWT_PRIVATE_KEY_FILE) is required but not set"
        )
    private_key = _load_private(private_pem)
    derived = private_key.public_key()
    public_pem = _pem(env, "SHOAL_JWT_PUBLIC_KEY")
    if public_pem is None:
        return private_pem, _public_pem(derived)
    try:
        public_key = serialization.load_pem_public_key(public_pem.encode())
    except ValueError:
        raise SettingsError("SHOAL_JWT_PUBLIC_KEY is not a PEM public key") from None
    if not isinstance(public_key, rsa.RSAPublicKey) or (
        public_key.public_numbers() != derived.public_numbers()
    ):
        raise SettingsError("SHOAL_JWT_PUBLIC_KEY does not match SHOAL_JWT_PRIVATE_KEY")
    return private_pem, public_pem


def _pem(env: Mapping[str, str], name: str) -> str | None:
    """The PEM text from ``NAME`` or from the file named by ``NAME_FILE``."""
    text = env.get(name, "").strip()
    if text:
        # Secrets stores sometimes flatten newlines to a literal "\n".
        return text.replace("\\n", "\n")
    path = env_optional(env, f"{name}_FILE")
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as error:
        raise SettingsError(f"{name}_FILE cannot be read: {error.strerror}") from None


def _load_private(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise SettingsError("SHOAL_JWT_PRIVATE_KEY is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise SettingsError("SHOAL_JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits")
    return key


def _public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
