"""Job events from PostgreSQL NOTIFY: one listener per process, fanned out to requests."""
