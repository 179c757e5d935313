"""Registered job types: the current revision of each, its history, and the changes.

A change locks the type's row (made first if the type is new, with revision 0, which
no reader sees: the row is committed with revision 1), so two changes of one type
never interleave and revisions count up without gaps. Every change is notified on
``CHANNEL`` in the changing transaction; each API process's catalogue reloads the
type when it arrives.
"""

from __future__ import annotations

from webapi.store.records import JobTypeRecord, JobTypeRevisionRecord

CHANNEL = "shoal_job_types"

# A type's current state joined to its current revision: what the catalogue loads.
_CURRENT = JobTypeRecord.columns("c", "")
_FROM_CURRENT = f"""
SELECT {_CURRENT} FROM (
  SELECT t.name, t.revision, t.retired_at, t.created_at, t.updated_at,
         r.definition, r.content_hash
  FROM job_types t JOIN job_type_revisions r ON r.name = t.name AND r.revision = t.revision
) c"""

# Every registered type, retired ones too (the catalogue keeps them: their queued
# jobs still run, and their answers say "retired").
ALL_CURRENT = f"{_FROM_CURRENT} ORDER BY c.name"

CURRENT = f"{_FROM_CURRENT} WHERE c.name = :name"

# Makes the row of a new type (revision 0 until its first revision is written) and
# does nothing for an existing one; LOCK_TYPE then locks it either way.
ENSURE_TYPE = """
INSERT INTO job_types (name, revision) VALUES (:name, 0) ON CONFLICT (name) DO NOTHING
"""

# The type's row, locked until the change commits, with its current content's hash.
LOCK_TYPE = """
SELECT t.revision, t.retired_at, r.content_hash
FROM job_types t LEFT JOIN job_type_revisions r ON r.name = t.name AND r.revision = t.revision
WHERE t.name = :name
FOR UPDATE OF t
"""

INSERT_REVISION = """
INSERT INTO job_type_revisions (name, revision, definition, content_hash, created_by)
VALUES (:name, :revision, CAST(:definition AS jsonb), :content_hash, :created_by)
"""

# The new revision becomes current; a retired type comes back.
SET_REVISION = """
UPDATE job_types SET revision = :revision, retired_at = NULL, updated_at = now()
WHERE name = :name
"""

# Retire: no new submissions from now on. Only a live type changes (and is notified).
RETIRE = """
UPDATE job_types SET retired_at = now(), updated_at = now()
WHERE name = :name AND retired_at IS NULL
"""

REVISIONS = f"""
SELECT {JobTypeRevisionRecord.columns("r", "")} FROM job_type_revisions r
WHERE r.name = :name ORDER BY r.revision
"""

REVISION = f"""
SELECT {JobTypeRevisionRecord.columns("r", "")} FROM job_type_revisions r
WHERE r.name = :name AND r.revision = :revision
"""
