"""The manager: scales worker tasks with the queue's depth, per job type."""
