"""The jobs routes' fixtures (``analyst``, ``worker``, ...) for the workflow routes."""

from tests.webapi.jobs.conftest import analyst, web_env, worker  # noqa: F401
