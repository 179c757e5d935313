"""WebSettings.from_env: defaults, the AWS database variables, keys, and one-line errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.errors import SettingsError
from webapi.auth.keys import generate_jwt_key_pair
from webapi.passwords import Passwords
from webapi.settings import MIB, RegistrationMode, WebSettings


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_jwt_key_pair()


def env_with(keys: tuple[str, str], **values: str) -> dict[str, str]:
    return {"DATABASE_URL": "postgresql://u@db/shoal", "SHOAL_JWT_PRIVATE_KEY": keys[0], **values}


def test_defaults(keys: tuple[str, str]) -> None:
    settings = WebSettings.from_env(env_with(keys))
    assert settings.database_url == "postgresql+psycopg2://u@db/shoal"
    assert (settings.jwt_access_seconds, settings.refresh_token_days) == (3600, 30)
    assert settings.max_body_bytes == MIB
    assert (settings.login_max_failures, settings.login_max_failures_per_address) == (5, 20)
    assert settings.login_window_seconds == 900
    assert (settings.login_delay_seconds, settings.login_max_delay_seconds) == (1.0, 60.0)
    assert settings.registration is RegistrationMode.OPEN
    assert settings.registrations_per_address == 5
    assert settings.password_hash_fast is False
    assert settings.jobs.log_limit_bytes == MIB
    assert settings.jobs.fair_share is True
    assert (settings.db_statement_timeout_ms, settings.db_lock_timeout_ms) == (30_000, 5_000)
    assert WebSettings.from_env(env_with(keys, SHOAL_FAIR_SHARE="off")).jobs.fair_share is False
    # Only the private key was given: the public one is derived from it.
    assert settings.jwt_public_key.startswith("-----BEGIN PUBLIC KEY-----")


def test_database_url_from_parts(keys: tuple[str, str]) -> None:
    env = env_with(
        keys,
        DATABASE_URL="",
        SHOAL_DB_HOST="db.internal",
        SHOAL_DB_PORT="6543",
        SHOAL_DB_USER="shoal",
        SHOAL_DB_PASSWORD="p@ss/word",
        SHOAL_DB_NAME="jobs",
    )
    url = WebSettings.from_env(env).database_url
    assert url == "postgresql+psycopg2://shoal:p%40ss%2Fword@db.internal:6543/jobs"


def test_keys_from_files(keys: tuple[str, str], tmp_path: Path) -> None:
    (tmp_path / "private.pem").write_text(keys[0])
    (tmp_path / "public.pem").write_text(keys[1])
    env = env_with(
        keys,
        SHOAL_JWT_PRIVATE_KEY="",
        SHOAL_JWT_PRIVATE_KEY_FILE=str(tmp_path / "private.pem"),
        SHOAL_JWT_PUBLIC_KEY_FILE=str(tmp_path / "public.pem"),
    )
    settings = WebSettings.from_env(env)
    assert settings.jwt_private_key == keys[0] and settings.jwt_public_key == keys[1]


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "", "SHOAL_DB_HOST": "h"}, "SHOAL_DB_USER"),
        (
            {"DATABASE_URL": "", "SHOAL_DB_HOST": "h", "SHOAL_DB_USER": "u", "SHOAL_DB_PORT": "x"},
            "SHOAL_DB_PORT",
        ),
        ({"SHOAL_JWT_PRIVATE_KEY": ""}, "SHOAL_JWT_PRIVATE_KEY"),
        ({"SHOAL_JWT_PRIVATE_KEY": "replace with a PEM"}, "SHOAL_JWT_PRIVATE_KEY"),
        ({"SHOAL_JWT_PUBLIC_KEY": "not a key"}, "SHOAL_JWT_PUBLIC_KEY"),
        (
            {"SHOAL_JWT_PRIVATE_KEY": "", "SHOAL_JWT_PRIVATE_KEY_FILE": "/no/such/file"},
            "SHOAL_JWT_PRIVATE_KEY_FILE",
        ),
        ({"SHOAL_JWT_ACCESS_SECONDS": "soon"}, "SHOAL_JWT_ACCESS_SECONDS"),
        ({"SHOAL_MAX_BODY_BYTES": "-1"}, "SHOAL_MAX_BODY_BYTES"),
        ({"SHOAL_LOGIN_MAX_FAILURES": "0"}, "SHOAL_LOGIN_MAX_FAILURES"),
        ({"SHOAL_PASSWORD_HASH_FAST": "maybe"}, "SHOAL_PASSWORD_HASH_FAST"),
        ({"SHOAL_LOGIN_MAX_DELAY_SECONDS": "0"}, "SHOAL_LOGIN_MAX_DELAY_SECONDS"),
        ({"SHOAL_REGISTRATION": "invite"}, "SHOAL_REGISTRATION"),
        ({"SHOAL_REGISTRATIONS_PER_ADDRESS": "0"}, "SHOAL_REGISTRATIONS_PER_ADDRESS"),
        ({"SHOAL_DB_POOL_SIZE": "many"}, "SHOAL_DB_POOL_SIZE"),
        ({"SHOAL_AUTH_CACHE_SECONDS": "-1"}, "SHOAL_AUTH_CACHE_SECONDS"),
        ({"SHOAL_JOB_OVERRIDES": '{"TEST": {"cacheScope": "team"}}'}, "SHOAL_JOB_OVERRIDES"),
        ({"SHOAL_JOB_OVERRIDES": '{"TEST": {"logLimitBytes": 0}}'}, "SHOAL_JOB_OVERRIDES"),
        ({"SHOAL_JOB_OVERRIDES": '{"TEST": {"maxPlatformRetries": -1}}'}, "SHOAL_JOB_OVERRIDES"),
        ({"SHOAL_JOB_OVERRIDES": '{"TEST": {"maxPlatformRetries": 101}}'}, "SHOAL_JOB_OVERRIDES"),
        ({"SHOAL_JOB_LOG_LIMIT_BYTES": "1000"}, "SHOAL_JOB_LOG_LIMIT_BYTES"),
        ({"SHOAL_FAIR_SHARE": "yes"}, "SHOAL_FAIR_SHARE"),
        ({"SHOAL_DB_STATEMENT_TIMEOUT_MS": "30s"}, "SHOAL_DB_STATEMENT_TIMEOUT_MS"),
        ({"SHOAL_DB_LOCK_TIMEOUT_MS": "-1"}, "SHOAL_DB_LOCK_TIMEOUT_MS"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_variable(
    keys: tuple[str, str], changes: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        WebSettings.from_env(env_with(keys, **changes))
    assert variable in raised.value.message
    assert "\n" not in raised.value.message


def test_mismatched_key_pair_is_refused(keys: tuple[str, str]) -> None:
    other_public = generate_jwt_key_pair()[1]
    with pytest.raises(SettingsError, match="does not match"):
        WebSettings.from_env(env_with(keys, SHOAL_JWT_PUBLIC_KEY=other_public))


def test_unknown_emails_cost_as_much_as_wrong_passwords() -> None:
    passwords = Passwords.create()
    real = passwords.hash("the real password")
    assert passwords.verify(real, "the real password")
    assert not passwords.verify(real, "a wrong password")
    assert not passwords.verify(None, "the real password")

    def cost(password_hash: str | None) -> float:
        start = time.perf_counter()
        passwords.verify(password_hash, "a wrong password")
        return time.perf_counter() - start

    # Both do a full argon2 verification (milliseconds), not a quick refusal.
    assert min(cost(None) for _ in range(3)) > 0.005
    assert min(cost(real) for _ in range(3)) > 0.005
