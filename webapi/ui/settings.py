"""Settings of the dashboard, read with the rest of the web API's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import env_bool, env_int


@dataclass(frozen=True)
class UiSettings:
    # How long a browser session lasts after logging in.
    session_seconds: int = 8 * 3600
    # Send the session cookie only over HTTPS (set behind a TLS load balancer).
    secure_cookies: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> UiSettings:
        return cls(
            session_seconds=env_int(env, "SHOAL_UI_SESSION_SECONDS", 8 * 3600, 60, 86400 * 30),
            secure_cookies=env_bool(env, "SHOAL_UI_SECURE_COOKIES", False),
        )
