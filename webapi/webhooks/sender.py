"""The sender: every API process posts due deliveries of the outbox in the background.

Deliveries are taken in small batches with ``FOR UPDATE SKIP LOCKED`` and held (their
``next_at`` moved past one POST's longest), so several processes never send one at
once, no transaction stays open while a receiver answers, and a process that dies
mid-send leaves its deliveries to another once the hold runs out: at least once, and
exactly once whenever the process that posted lives to record the answer. Each try is
recorded; a delivery not answered with a 2xx is due again after a back-off that
doubles, with jitter, until it is a day old (then FAILED). Nothing here runs on a
request.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from webapi.background import ProcessThread
from webapi.schemas import utc_iso
from webapi.store import webhooks as store
from webapi.store.webhook_records import DeliveryRecord
from webapi.webhooks import signing, targets
from webapi.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)
EXCERPT_BYTES = 1024
BATCH = 20
SENDS_AT_ONCE = 8
USER_AGENT = "shoal-webhooks/1"


class WebhookSender:
    def __init__(
        self,
        engine: Engine,
        settings: WebhookSettings,
        *,
        resolve: targets.Resolver = targets.system_resolver,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.resolve = resolve
        self._thread = ProcessThread("webhooks", self._run)

    def ensure_started(self) -> None:
        self._thread.ensure_started()

    def stop(self) -> None:
        self._thread.stop()

    def run_once(self) -> int:
        """Send one batch of due deliveries; how many were taken."""
        taken = store.take_due(self.engine, hold_seconds=self.settings.hold_seconds, batch=BATCH)
        if taken:
            with ThreadPoolExecutor(SENDS_AT_ONCE, thread_name_prefix="webhook-post") as pool:
                list(pool.map(self._deliver, taken))
        return len(taken)

    def _deliver(self, taken: store.Taken) -> None:
        delivery, webhook = taken.delivery, taken.webhook
        body = signing.body(
            webhook.payload_format,
            delivery.event_uid,
            delivery.kind,
            delivery.data,
            utc_iso(delivery.event_at),
        )
        answer = self.post(webhook.url, webhook.secret, delivery, body)
        ok = answer.status_code is not None and 200 <= answer.status_code < 300
        if ok:
            store.settle(self.engine, delivery, answer, state="DELIVERED", delay=0)
        else:
            delay = self._backoff(delivery.attempts)
            age = (datetime.now(UTC) - delivery.created_at).total_seconds()
            state = "FAILED" if age + delay > self.settings.give_up_seconds else "PENDING"
            store.settle(self.engine, delivery, answer, state=state, delay=delay)
        log.info(
            "webhook delivered" if ok else "webhook not delivered",
            extra={
                "action": "webhook.delivered" if ok else "webhook.failed",
                "webhook_id": webhook.id,
                "delivery_id": delivery.id,
                "event": delivery.kind,
                "attempt": delivery.attempts,
                "status_code": answer.status_code,
                "error": answer.error,
            },
        )

    def post(self, url: str, secret: str, delivery: DeliveryRecord, body: bytes) -> store.Answer:
        """One POST to the first allowed address of the URL's host, timed."""
        started = time.monotonic()
        try:
            target = targets.parse(url, self.settings)
            addresses = targets.addresses(target, self.settings, self.resolve)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Host": _host_header(target),
                signing.EVENT_ID_HEADER: delivery.event_uid,
                signing.EVENT_HEADER: delivery.kind,
                signing.SIGNATURE_HEADER: signing.signature(secret, int(time.time()), body),
            }
            return self._post_to(target, addresses, headers, body, started)
        except targets.TargetRefused as refused:
            return store.Answer(_ms_since(started), error=f"refused: {refused.message}")
        except (httpx.HTTPError, OSError, ValueError) as error:  # any failure of the POST
            return store.Answer(_ms_since(started), error=f"{type(error).__name__}: {error}"[:500])

    def _post_to(
        self,
        target: targets.Target,
        addresses: Sequence[str],
        headers: dict[str, str],
        body: bytes,
        started: float,
    ) -> store.Answer:
        address = ipaddress.ip_address(addresses[0].split("%")[0])
        literal = f"[{address}]" if address.version == 6 else str(address)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        url = f"{target.scheme}://{literal}:{target.port}{target.path}"
        # No proxies from the environment, no redirects: the POST goes to the very
        # address checked, and nowhere a receiver points it.
        with httpx.Client(timeout=self.settings.timeout_seconds, trust_env=False) as client:
            request = client.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                excerpt = _excerpt(response)
            finally:
                response.close()
        return store.Answer(_ms_since(started), response.status_code, excerpt)

    def _backoff(self, attempts: int) -> float:
        """The wait before try ``attempts + 1``: doubling from the base, at most the max,
        each between half and all of it (jitter, so receivers coming back are not hit by
        every sender at once)."""
        s = self.settings
        doubled = s.retry_base_seconds * 2.0 ** min(attempts - 1, 40)
        full: float = min(s.retry_max_seconds, doubled)
        return full * (0.5 + random.random() / 2)

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.settings.poll_seconds):
            try:
                while self.run_once() >= BATCH and not stopping.is_set():
                    pass  # a full batch: more may be due at once
            except SQLAlchemyError as error:
                log.warning(
                    "webhook sending skipped: %s",
                    type(error).__name__,
                    extra={"action": "webhook.send_failed"},
                )


def _host_header(target: targets.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _excerpt(response: httpx.Response) -> str:
    """The start of the answer's body, at most ``EXCERPT_BYTES``, as text."""
    read = b""
    for chunk in response.iter_raw():
        read += chunk
        if len(read) >= EXCERPT_BYTES:
            break
    return read[:EXCERPT_BYTES].decode("utf-8", "replace")


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
