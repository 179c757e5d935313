"""Compute administration: the admin routes and the routes the manager relies on."""
