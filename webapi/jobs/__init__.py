"""Jobs over HTTP: the users' routes, the workers' protocol, downloads and live events."""
