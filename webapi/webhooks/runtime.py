"""The sender of one app: built with it, started by its first request, stopped with it."""

from __future__ import annotations

from flask import Flask, current_app

from webapi.services import Services
from webapi.webhooks.sender import WebhookSender

EXTENSION = "shoal_webhooks"


def init_webhooks(app: Flask, services: Services) -> WebhookSender:
    sender = WebhookSender(services.engine, services.settings.webhooks)
    # As housekeeping: every API process sends, from its first request on (after a fork too).
    app.before_request(sender.ensure_started)
    app.extensions[EXTENSION] = sender
    return sender


def webhook_sender() -> WebhookSender:
    found: WebhookSender = current_app.extensions[EXTENSION]
    return found
