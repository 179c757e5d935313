"""Webhooks: subscriptions (``/api/webhooks``), and the sender of their outbox."""
