"""What two or more of shoal's programs import: job types, enums and errors, wire
schemas, the HTTP client, settings helpers, result storage and process lifetime.

The database is not here: it is the web API's alone (``webapi.store``).
"""
