"""``/api/notes``: text notes on polygons, owned by their author (admins see all)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from webapi.auth import USER_ROLES, current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.ownership import owned, owner_filter
from webapi.schemas import Strict, UtcDateTime
from webapi.services import services
from webapi.store import polygons as store

blp = Blueprint("notes", __name__, url_prefix="/api/notes", description="Notes on polygons")

_CONTENT = ma.validate.Length(min=1, max=100_000)


class NewNote(Strict):
    content = ma.fields.String(required=True, validate=_CONTENT)
    polygonId = ma.fields.Integer(required=True, strict=True)  # noqa: N815 - wire name


class NoteUpdate(Strict):
    content = ma.fields.String(required=True, validate=_CONTENT)


class NoteOut(ma.Schema):
    id = ma.fields.Integer()
    polygon_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    content = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class NoteEnvelope(ma.Schema):
    note = ma.fields.Nested(NoteOut)


class NotesOut(ma.Schema):
    notes = ma.fields.List(ma.fields.Nested(NoteOut))


@blp.route("", strict_slashes=False)
class Notes(MethodView):
    @require_roles(*USER_ROLES)
    @blp.response(200, NotesOut)
    def get(self) -> dict[str, Any]:
        """The caller's notes (every note for an admin), oldest first."""
        with services().transaction() as conn:
            return {"notes": store.notes(conn, owner_filter(current_principal()))}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.arguments(NewNote)
    @blp.response(200, NoteEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a note to a polygon the caller owns."""
        principal = current_principal()
        with services().transaction() as conn:
            polygon = owned(store.polygon(conn, body["polygonId"]), principal, what="Polygon")
            return {"note": store.insert_note(conn, polygon.id, principal.user_id, body["content"])}


@blp.route("/<int:item_id>")
class NotesById(MethodView):
    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(200, NotesOut)
    def get(self, item_id: int) -> dict[str, Any]:
        """The notes of polygon ``item_id`` (its owner or an admin)."""
        with services().transaction() as conn:
            polygon = owned(store.polygon(conn, item_id), current_principal(), what="Polygon")
            return {"notes": store.notes_of(conn, polygon.id)}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.arguments(NoteUpdate)
    @blp.response(200, NoteEnvelope)
    def put(self, body: dict[str, Any], item_id: int) -> dict[str, Any]:
        """Replace the text of note ``item_id``."""
        with services().transaction() as conn:
            row = owned(store.note(conn, item_id, lock=True), current_principal(), what="Note")
            return {"note": store.set_note(conn, row.id, body["content"])}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(204)
    def delete(self, item_id: int) -> None:
        """Delete note ``item_id``."""
        with services().transaction() as conn:
            row = owned(store.note(conn, item_id, lock=True), current_principal(), what="Note")
            store.delete_note(conn, row.id)
