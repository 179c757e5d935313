"""The webhooks pages: the viewer's subscriptions (every one for an admin), and one
subscription's deliveries with the answers each try got. Subscribing is the API's
and ``shoal webhooks``' (the secret is shown once, where it can be copied)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from shared.errors import NotFound
from webapi.auth import USER_ROLES
from webapi.ownership import owned, owner_filter
from webapi.services import services
from webapi.store import webhooks as store
from webapi.store.queue_reads import decode_cursor, encode_cursor
from webapi.ui.pages import blp, page, render_page
from webapi.ui.session import current_session
from webapi.webhooks.wire import delivery_wire, webhook_wire

PAGE = 50
MAX_INT = 2**31 - 1


@blp.route("/webhooks")
@page(*USER_ROLES)
def webhooks() -> ResponseReturnValue:
    with services().transaction() as conn:
        found = store.listing(conn, owner_filter(current_session().principal))
    return render_page("webhooks.html", hooks=[webhook_wire(w) for w in found])


@blp.route("/webhooks/<int:webhook_id>")
@page(*USER_ROLES)
def webhook(webhook_id: int) -> ResponseReturnValue:
    before = decode_cursor(request.args.get("cursor"))
    with services().transaction() as conn:
        if webhook_id > MAX_INT:
            raise NotFound("Webhook not found.")
        hook = owned(store.get(conn, webhook_id), current_session().principal, what="Webhook")
        page_rows = store.deliveries(conn, hook.id, limit=PAGE, before=before)
    return render_page(
        "webhook.html",
        hook=webhook_wire(hook),
        deliveries=[delivery_wire(d, tries) for d, tries in page_rows],
        paged=before is not None,
        next_cursor=encode_cursor(page_rows[-1][0].id) if len(page_rows) == PAGE else None,
    )
