"""Prefect entry point `flows/training.py:training` (prefect.yaml): every dvc.yaml stage, then the release."""

from driftline.orchestration.flows import training

__all__ = ["training"]
