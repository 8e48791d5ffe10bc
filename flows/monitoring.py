"""Prefect entry point `flows/monitoring.py:monitoring` (prefect.yaml): a log window or a batch, checked."""

from driftline.orchestration.flows import monitoring

__all__ = ["monitoring"]
