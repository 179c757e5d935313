"""The app as gunicorn builds it: settings from the environment, JSON logs."""

from __future__ import annotations

import os

from flask import Flask

from shared.logs import configure_logging
from webapi.app import create_app
from webapi.settings import WebSettings


def create_app_from_env() -> Flask:
    configure_logging()
    return create_app(WebSettings.from_env(os.environ))
