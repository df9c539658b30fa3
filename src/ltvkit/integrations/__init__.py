"""Adapters to other tools (optional extras): :mod:`ltvkit.integrations.mlflow`."""
