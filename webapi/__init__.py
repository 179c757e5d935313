"""The web API: identity, jobs over HTTP, result downloads, live events, admin routes."""
