"""``/api/notes``: text notes on polygons, owned by their author (admins see all)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from sqlalchemy import select

from webapi.auth import USER_ROLES, current_principal, require_roles
from webapi.blueprint import Blueprint
from webapi.ownership import list_owned, load_owned
from webapi.schemas import Strict, UtcDateTime
from webapi.services import services
from webapi.store.models import Polygon, PolygonNote

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
        with services().session() as session:
            return {"notes": list_owned(session, PolygonNote, current_principal())}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.arguments(NewNote)
    @blp.response(200, NoteEnvelope)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a note to a polygon the caller owns."""
        principal = current_principal()
        with services().session() as session:
            load_owned(session, Polygon, body["polygonId"], principal, what="Polygon")
            row = PolygonNote(
                polygon_id=body["polygonId"], user_id=principal.user_id, content=body["content"]
            )
            session.add(row)
            session.flush()
            session.refresh(row)
            return {"note": row}


@blp.route("/<int:item_id>")
class NotesById(MethodView):
    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(200, NotesOut)
    def get(self, item_id: int) -> dict[str, Any]:
        """The notes of polygon ``item_id`` (its owner or an admin)."""
        with services().session() as session:
            load_owned(session, Polygon, item_id, current_principal(), what="Polygon")
            statement = (
                select(PolygonNote)
                .where(PolygonNote.polygon_id == item_id)
                .order_by(PolygonNote.id)
            )
            return {"notes": session.scalars(statement).all()}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.arguments(NoteUpdate)
    @blp.response(200, NoteEnvelope)
    def put(self, body: dict[str, Any], item_id: int) -> dict[str, Any]:
        """Replace the text of note ``item_id``."""
        with services().session() as session:
            row = load_owned(
                session, PolygonNote, item_id, current_principal(), what="Note", lock=True
            )
            row.content = body["content"]
            row.updated_at = datetime.now(UTC)
            return {"note": row}

    @require_roles(*USER_ROLES)
    @blp.errors(404)
    @blp.response(204)
    def delete(self, item_id: int) -> None:
        """Delete note ``item_id``."""
        with services().session() as session:
            row = load_owned(
                session, PolygonNote, item_id, current_principal(), what="Note", lock=True
            )
            session.delete(row)
