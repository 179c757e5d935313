"""What the web API, the manager and the workers share: job types, wire schemas,
the HTTP client, settings helpers, result storage and (for the web API only) the
database layer."""
