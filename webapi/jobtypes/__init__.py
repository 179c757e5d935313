"""Job types as data: the catalogue of every type, and the routes that register types."""
