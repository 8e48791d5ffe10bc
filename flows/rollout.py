"""Prefect entry point `flows/rollout.py:rollout_decision` (prefect.yaml): the running rollout, judged on evidence."""

from driftline.orchestration.flows import rollout_decision

__all__ = ["rollout_decision"]
