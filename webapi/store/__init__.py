"""The database layer: models, engine, migrations, the queue and every SQL statement.

The web API's alone: the manager, the workers and the ``shoal`` program reach the
database only through the API over HTTP (import-linter contracts in pyproject.toml).
"""
