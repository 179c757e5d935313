from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import SettingsError
from worker.settings import WorkerSettings

BASE = {"SHOAL_API_URL": "http://api:5000", "SHOAL_API_KEY": "k", "SHOAL_JOB_TYPES": "TEST"}


def test_defaults_and_lists() -> None:
    settings = WorkerSettings.from_env({**BASE, "SHOAL_JOB_TYPES": "TEST, POLYGON_STATS TEST"})
    assert settings.job_types == ("TEST", "POLYGON_STATS")
    assert (settings.concurrency, settings.idle_timeout, settings.grace_seconds) == (1, 300, 30)
    assert settings.claim_wait_seconds == 20
    assert settings.client.api_url == "http://api:5000"
    assert (settings.log_buffer_bytes, settings.capture_fds) == (4 * 1024 * 1024, True)


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = WorkerSettings.from_env(
        {
            **BASE,
            "SHOAL_WORKER_CONCURRENCY": "4",
            "SHOAL_IDLE_TIMEOUT_SECONDS": "0",
            "SHOAL_HEARTBEAT_SECONDS": "2.5",
            "SHOAL_GRACE_SECONDS": "5",
            "SHOAL_CLAIM_WAIT_SECONDS": "30",
            "SHOAL_WORK_DIR": str(tmp_path),
            "SHOAL_JOB_LOG_BUFFER_BYTES": "65536",
            "SHOAL_JOB_LOG_INTERVAL_SECONDS": "0.5",
            "SHOAL_JOB_LOG_FLUSH_SECONDS": "3",
            "SHOAL_JOB_LOG_CAPTURE_FDS": "false",
        }
    )
    assert (settings.concurrency, settings.idle_timeout, settings.heartbeat_seconds) == (4, 0, 2.5)
    assert (settings.grace_seconds, settings.claim_wait_seconds) == (5, 30)
    assert settings.work_dir == tmp_path
    assert (settings.log_buffer_bytes, settings.log_interval_seconds) == (65536, 0.5)
    assert (settings.log_flush_seconds, settings.capture_fds) == (3, False)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOAL_JOB_TYPES", ""),
        ("SHOAL_JOB_TYPES", "TEST,not-a-type"),
        ("SHOAL_WORKER_CONCURRENCY", "0"),
        ("SHOAL_WORKER_CONCURRENCY", "two"),
        ("SHOAL_IDLE_TIMEOUT_SECONDS", "-1"),
        ("SHOAL_HEARTBEAT_SECONDS", "0"),
        ("SHOAL_GRACE_SECONDS", "x"),
        ("SHOAL_CLAIM_WAIT_SECONDS", "31"),
        ("SHOAL_API_URL", ""),
        ("SHOAL_LOG_LEVEL", "LOUD"),
        ("SHOAL_JOB_LOG_BUFFER_BYTES", "1000"),
        ("SHOAL_JOB_LOG_INTERVAL_SECONDS", "0"),
        ("SHOAL_JOB_LOG_FLUSH_SECONDS", "-1"),
        ("SHOAL_JOB_LOG_CAPTURE_FDS", "maybe"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        WorkerSettings.from_env({**BASE, name: value})
    assert name in str(err.value)
