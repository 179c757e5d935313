"""Shoal's AWS deployment as a CDK app: one validated config file, two stacks."""
