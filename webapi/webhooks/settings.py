"""Settings of webhook subscriptions and of the sender, read with the web API's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import env_bool, env_float, env_int


@dataclass(frozen=True)
class WebhookSettings:
    # Targets on loopback, link-local, private or other non-global addresses (an
    # operator's own network): refused unless allowed, at create and at each send.
    allow_private: bool = False
    # http:// targets (local use); otherwise only https://.
    allow_http: bool = False
    # One POST's connect, read and write timeouts each.
    timeout_seconds: float = 10.0
    # How often each API process looks for due deliveries.
    poll_seconds: float = 1.0
    # Retries: the first after about this long, doubling (with jitter) up to the max, and
    # none once a delivery is this old: it is FAILED.
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    give_up_seconds: float = 86400.0
    # At most this many subscriptions per user.
    max_per_user: int = 50
    # Delivered and failed deliveries (their events and tries) are deleted this long
    # after they settled, by the hourly housekeeping.
    retention_days: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        return cls(
            allow_private=env_bool(env, "SHOAL_WEBHOOK_ALLOW_PRIVATE", False),
            allow_http=env_bool(env, "SHOAL_WEBHOOK_ALLOW_HTTP", False),
            timeout_seconds=env_float(env, "SHOAL_WEBHOOK_TIMEOUT_SECONDS", 10.0, 0.1, 60),
            poll_seconds=env_float(env, "SHOAL_WEBHOOK_POLL_SECONDS", 1.0, 0.05, 60),
            retry_base_seconds=env_float(env, "SHOAL_WEBHOOK_RETRY_BASE_SECONDS", 10.0, 0.01, 3600),
            retry_max_seconds=env_float(
                env, "SHOAL_WEBHOOK_RETRY_MAX_SECONDS", 3600.0, 0.01, 86400
            ),
            give_up_seconds=env_float(env, "SHOAL_WEBHOOK_GIVE_UP_SECONDS", 86400.0, 1, 86400 * 7),
            max_per_user=env_int(env, "SHOAL_WEBHOOK_MAX_PER_USER", 50, 1, 10_000),
            retention_days=env_int(env, "SHOAL_WEBHOOK_RETENTION_DAYS", 30, 1, 3650),
        )

    @property
    def hold_seconds(self) -> float:
        """How long a taken delivery is held: past one POST's longest (connect, write,
        read), so only a process that died leaves it to another."""
        return 3 * self.timeout_seconds + 5
