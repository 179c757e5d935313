"""Workflows: jobs and sweeps submitted as one graph (``POST /api/workflows``)."""
