"""``shoal worker``'s start-up checks: a bad setting is one line and exit code 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from worker.commands import worker

ENV = {"SHOAL_API_URL": "http://127.0.0.1:9", "SHOAL_API_KEY": "k", "SHOAL_JOB_TYPES": "TEST"}


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        ([], {"SHOAL_API_KEY": None}, "SHOAL_API_KEY"),
        (["--job-types", "TEST,nope"], {}, "SHOAL_JOB_TYPES"),
        (["--concurrency", "0"], {}, "SHOAL_WORKER_CONCURRENCY"),
        (["--idle-timeout", "-5"], {}, "SHOAL_IDLE_TIMEOUT_SECONDS"),
        ([], {"SHOAL_GRACE_SECONDS": "soon"}, "SHOAL_GRACE_SECONDS"),
        ([], {"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:9/v4"}, "ECS_CONTAINER"),
    ],
)
def test_a_bad_setting_exits_2_naming_it(
    args: list[str], env: dict[str, str | None], named: str
) -> None:
    result = CliRunner().invoke(worker, args, env={**ENV, **env})
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("shoal worker: ") and named in line
