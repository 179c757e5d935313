"""Type files for ``shoal types apply``: YAML or JSON, one type document or a list of them
under ``jobTypes:``, each checked here with the API's own rules before anything is sent.

YAML is read as JSON would see it (``shared.jobtypes.document_text``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import InvalidInput
from shared.jobtypes.document import RegisteredType
from shared.jobtypes.document_text import load_document_text
from shoal_cli.common import UsageError

LIST_KEY = "jobTypes"


@dataclass(frozen=True)
class TypeDocument:
    """One document of a file: where it is (``jobTypes[2]``, or the file itself) and its body."""

    where: str
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body["name"])


class RefusedFile(InvalidInput):
    """The file's job types do not pass the checks."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was sent")
        self.problems = problems


def read_type_file(name: str) -> list[TypeDocument]:
    """The documents of a file (``-``: stdin), each checked; ``UsageError`` for a file that
    cannot be read or has no documents, ``RefusedFile`` listing every field at fault."""
    source = "stdin" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UsageError(f"-f: cannot read {name}: {reason}") from None
    documents = _documents(_parse(text, source, json_only=name.endswith(".json")), source)
    problems = [problem for document in documents for problem in _problems(document, source)]
    if not problems:  # every document passed, so each is a mapping with a name
        seen: set[str] = set()
        for document in documents:
            if document.name in seen:
                problems.append(
                    f"{source}: {document.where}: name: {document.name} is in the file twice."
                )
            seen.add(document.name)
    if problems:
        raise RefusedFile(problems)
    return documents


def _parse(text: str, source: str, *, json_only: bool) -> Any:
    try:
        return load_document_text(text, json_only=json_only)
    except ValueError as error:
        raise UsageError(f"{source} is {error}") from None


def _documents(loaded: Any, source: str) -> list[TypeDocument]:
    if loaded is None:
        raise UsageError(f"{source} holds no job type")
    if isinstance(loaded, Mapping) and LIST_KEY in loaded:
        listed = loaded[LIST_KEY]
        if not isinstance(listed, list) or not listed:
            raise UsageError(f"{source}: {LIST_KEY} must be a list of job types")
        if len(loaded) > 1:
            others = ", ".join(sorted(str(key) for key in loaded if key != LIST_KEY))
            raise UsageError(f"{source}: besides {LIST_KEY}, the file may hold nothing ({others})")
        return [TypeDocument(f"{LIST_KEY}[{i}]", item) for i, item in enumerate(listed)]
    return [TypeDocument("the document", loaded)]


def _problems(document: TypeDocument, source: str) -> list[str]:
    """Each bad field as ``FILE: where (NAME): field: reasons``; none when it passes."""
    body = document.body
    if not isinstance(body, Mapping):
        return [f"{source}: {document.where}: must be a mapping (a job type document)."]
    named = body.get("name")
    where = f"{document.where} ({named})" if isinstance(named, str) else document.where
    try:
        RegisteredType.from_wire(body)
    except InvalidInput as error:
        found = error.errors or {"": [error.message]}
        return [
            f"{source}: {where}: {field + ': ' if field else ''}{' '.join(reasons)}"
            for field, reasons in found.items()
        ]
    return []
