"""Where the API is and how to authenticate, read from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.errors import SettingsError
from shared.settings import env_float, env_optional, env_str


@dataclass(frozen=True)
class ClientSettings:
    api_url: str
    api_key: str | None = field(default=None, repr=False)
    email: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientSettings:
        """``SHOAL_API_URL``, then ``SHOAL_API_KEY`` or ``SHOAL_EMAIL`` + ``SHOAL_PASSWORD``."""
        api_url = env_str(env, "SHOAL_API_URL")
        if not api_url.startswith(("http://", "https://")):
            raise SettingsError(
                f"SHOAL_API_URL must start with http:// or https://, got {api_url!r}"
            )
        api_key = env_optional(env, "SHOAL_API_KEY")
        email = env_optional(env, "SHOAL_EMAIL")
        password = env_optional(env, "SHOAL_PASSWORD")
        if api_key is None:
            if email is None:
                raise SettingsError("SHOAL_API_KEY (or SHOAL_EMAIL and SHOAL_PASSWORD) is required")
            if password is None:
                raise SettingsError("SHOAL_PASSWORD is required when SHOAL_EMAIL is set")
        timeout = env_float(env, "SHOAL_API_TIMEOUT_SECONDS", 30.0, low=1.0, high=600.0)
        return cls(api_url.rstrip("/"), api_key, email, password, timeout)
