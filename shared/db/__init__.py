"""The database layer: models, engine, migrations and the queue. Used by the web API only."""
