from __future__ import annotations

import pytest

from shared.client import ClientSettings
from shared.errors import SettingsError


def test_api_key_or_login() -> None:
    by_key = ClientSettings.from_env({"SHOAL_API_URL": "http://h:5000/", "SHOAL_API_KEY": "k"})
    assert (by_key.api_url, by_key.api_key, by_key.email) == ("http://h:5000", "k", None)
    login = ClientSettings.from_env(
        {"SHOAL_API_URL": "https://h", "SHOAL_EMAIL": "a@b.c", "SHOAL_PASSWORD": "pw"}
    )
    assert (login.email, login.password) == ("a@b.c", "pw")
    assert "pw" not in repr(login)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "SHOAL_API_URL"),
        ({"SHOAL_API_URL": "h:5000", "SHOAL_API_KEY": "k"}, "SHOAL_API_URL"),
        ({"SHOAL_API_URL": "http://h"}, "SHOAL_API_KEY"),
        ({"SHOAL_API_URL": "http://h", "SHOAL_EMAIL": "a@b.c"}, "SHOAL_PASSWORD"),
        (
            {"SHOAL_API_URL": "http://h", "SHOAL_API_KEY": "k", "SHOAL_API_TIMEOUT_SECONDS": "x"},
            "SHOAL_API_TIMEOUT_SECONDS",
        ),
    ],
)
def test_a_bad_setting_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError) as err:
        ClientSettings.from_env(env)
    assert names in str(err.value)
