"""Polygons and notes in the database; who may use them is ``webapi/ownership.py``'s rule."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from webapi.store.prepared import text
from webapi.store.records import NoteRecord, PolygonRecord
from webapi.store.sql import polygons as sql


def insert_polygon(conn: Connection, user_id: int, polygon: dict[str, Any]) -> PolygonRecord:
    params = {"user_id": user_id, "polygon": json.dumps(polygon)}
    return PolygonRecord.from_row(conn.execute(text(sql.INSERT_POLYGON), params).mappings().one())


def polygon(conn: Connection, polygon_id: int, *, lock: bool = False) -> PolygonRecord | None:
    """The polygon, locked until the transaction ends with ``lock``."""
    statement = sql.LOCK_POLYGON if lock else sql.POLYGON_BY_ID
    return PolygonRecord.first_of(conn.execute(text(statement), {"polygon_id": polygon_id}))


def polygons(conn: Connection, user_id: int | None) -> list[PolygonRecord]:
    """The user's polygons (None: everyone's), oldest first."""
    return PolygonRecord.all_of(conn.execute(text(sql.POLYGONS), {"user_id": user_id}))


def set_polygon(conn: Connection, polygon_id: int, polygon: dict[str, Any]) -> PolygonRecord:
    params = {"polygon_id": polygon_id, "polygon": json.dumps(polygon)}
    return PolygonRecord.from_row(conn.execute(text(sql.SET_POLYGON), params).mappings().one())


def delete_polygon(conn: Connection, polygon_id: int) -> None:
    conn.execute(text(sql.DELETE_POLYGON), {"polygon_id": polygon_id})


def insert_note(conn: Connection, polygon_id: int, user_id: int, content: str) -> NoteRecord:
    params = {"polygon_id": polygon_id, "user_id": user_id, "content": content}
    return NoteRecord.from_row(conn.execute(text(sql.INSERT_NOTE), params).mappings().one())


def note(conn: Connection, note_id: int, *, lock: bool = False) -> NoteRecord | None:
    """The note, locked until the transaction ends with ``lock``."""
    statement = sql.LOCK_NOTE if lock else sql.NOTE_BY_ID
    return NoteRecord.first_of(conn.execute(text(statement), {"note_id": note_id}))


def notes(conn: Connection, user_id: int | None) -> list[NoteRecord]:
    """The user's notes (None: everyone's), oldest first."""
    return NoteRecord.all_of(conn.execute(text(sql.NOTES), {"user_id": user_id}))


def notes_of(conn: Connection, polygon_id: int) -> list[NoteRecord]:
    """A polygon's notes, oldest first."""
    return NoteRecord.all_of(conn.execute(text(sql.NOTES_OF_POLYGON), {"polygon_id": polygon_id}))


def set_note(conn: Connection, note_id: int, content: str) -> NoteRecord:
    params = {"note_id": note_id, "content": content}
    return NoteRecord.from_row(conn.execute(text(sql.SET_NOTE), params).mappings().one())


def delete_note(conn: Connection, note_id: int) -> None:
    conn.execute(text(sql.DELETE_NOTE), {"note_id": note_id})
