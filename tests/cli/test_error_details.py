"""An API error on one line: each detail once, a batch's inputs counted from 1."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Shoal


def test_a_bad_sweep_names_each_bad_input_once_counted_from_1(
    shoal_as_analyst: Shoal, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep.jsonl"
    sweep.write_text('{"id": 1}\n{"id": "x"}\n{"id": 3}\n{"id": 4, "extra": 1}\n')
    result = shoal_as_analyst("jobs", "submit", "TEST", "--inputs", str(sweep))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: input 2 does not match its schema (id: Not a valid integer.);"
        " 1 more inputs are bad; nothing was created (input 4, extra: Unknown field.)"
        " [HTTP 400]\n"
    )
