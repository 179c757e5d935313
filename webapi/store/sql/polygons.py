"""Polygons and the notes on them, each owned by the user who created it.

A listing's ``:user_id`` is its owner, or NULL for every row (an admin). The
``LOCK_*`` reads hold the row until the transaction ends, so a change or a delete
is checked against the owner it is applied to.
"""

from __future__ import annotations

from webapi.store.sql.fragments import NOTE, POLYGON

INSERT_POLYGON = f"""
WITH p AS (
  INSERT INTO polygons (user_id, polygon) VALUES (:user_id, CAST(:polygon AS jsonb))
  RETURNING *
)
SELECT {POLYGON} FROM p
"""

POLYGON_BY_ID = f"SELECT {POLYGON} FROM polygons p WHERE p.id = :polygon_id"
LOCK_POLYGON = f"{POLYGON_BY_ID} FOR UPDATE"

POLYGONS = f"""
SELECT {POLYGON} FROM polygons p
WHERE CAST(:user_id AS integer) IS NULL OR p.user_id = :user_id
ORDER BY p.id
"""

SET_POLYGON = f"""
UPDATE polygons p SET polygon = CAST(:polygon AS jsonb), updated_at = now()
WHERE p.id = :polygon_id
RETURNING {POLYGON}
"""

# Its notes go with it (ON DELETE CASCADE).
DELETE_POLYGON = "DELETE FROM polygons WHERE id = :polygon_id"

INSERT_NOTE = f"""
WITH n AS (
  INSERT INTO polygon_notes (polygon_id, user_id, content) VALUES (:polygon_id, :user_id, :content)
  RETURNING *
)
SELECT {NOTE} FROM n
"""

NOTE_BY_ID = f"SELECT {NOTE} FROM polygon_notes n WHERE n.id = :note_id"
LOCK_NOTE = f"{NOTE_BY_ID} FOR UPDATE"

NOTES = f"""
SELECT {NOTE} FROM polygon_notes n
WHERE CAST(:user_id AS integer) IS NULL OR n.user_id = :user_id
ORDER BY n.id
"""

NOTES_OF_POLYGON = (
    f"SELECT {NOTE} FROM polygon_notes n WHERE n.polygon_id = :polygon_id ORDER BY n.id"
)

SET_NOTE = f"""
UPDATE polygon_notes n SET content = :content, updated_at = now() WHERE n.id = :note_id
RETURNING {NOTE}
"""

DELETE_NOTE = "DELETE FROM polygon_notes WHERE id = :note_id"
