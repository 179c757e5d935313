"""Compute backends: where worker tasks run (ECS Fargate, or local processes)."""
