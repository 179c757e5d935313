"""The one HTTP client for shoal's API (sync, httpx), with retries and both auth styles."""

from shared.client.client import ShoalClient, claim_body, claims_of, result_body
from shared.client.errors import ApiError, ApiUnavailable
from shared.client.logs import follow_logs
from shared.client.models import Claim, HeartbeatAnswer
from shared.client.retry import RetryPolicy
from shared.client.settings import ClientSettings
from shared.client.sse import ServerSentEvent, parse_sse

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "Claim",
    "ClientSettings",
    "HeartbeatAnswer",
    "RetryPolicy",
    "ServerSentEvent",
    "ShoalClient",
    "claim_body",
    "claims_of",
    "follow_logs",
    "parse_sse",
    "result_body",
]
