"""The errors driftline reports to users, kept light so the CLI can name them without heavy imports.

Every error driftline raises derives from DriftlineError: the CLI and the stage entry points catch that one
type and print its message, never a traceback. Each also keeps the builtin base it had (ValueError for bad
input, RuntimeError for a failed step), so code that caught those still does.
"""

from __future__ import annotations


class DriftlineError(Exception):
    """The base of every error driftline raises; its message says what went wrong and what to do."""


class ConfigError(DriftlineError, ValueError):
    """params.yaml (or dvc.yaml) is missing, unreadable or invalid; the message names the offending keys."""


class DataError(DriftlineError, ValueError):
    """A batch that cannot be read or does not fit the schema."""


class ContractError(DriftlineError, ValueError):
    """The data broke the contract; carries one line per failed expectation."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("data contract failed:\n  " + "\n  ".join(problems))


class IngestError(DriftlineError, RuntimeError):
    """The batch was refused or could not be stored; the data and its version are as they were."""


class StageFailed(DriftlineError, RuntimeError):
    """A pipeline stage failed; the message names the stage and DVC's reason."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        super().__init__(f"stage '{stage}' failed: {reason}")


class AuditError(DriftlineError, RuntimeError):
    """The audit cannot vouch for its explanations (SHAP attributions that do not add up to the output they explain)."""


class MonitorError(DriftlineError, RuntimeError):
    """A drift report lacks the results the monitoring decision needs."""


class RegistryError(DriftlineError, RuntimeError):
    """A registry request that cannot be met: an unknown version, no champion, a refused promotion."""


class ModelNotFound(DriftlineError, FileNotFoundError):
    """A model that is neither in the BentoML store nor exported where the registry keeps it."""


class ClusterUnreachable(DriftlineError, ConnectionError):
    """The Dask scheduler that batch scoring was pointed at does not answer."""


class RetentionError(DriftlineError, ValueError):
    """A purge of the inference log that cannot run: no cut given or configured, or a cut in the future."""


class DeadLetterError(DriftlineError, ValueError):
    """The inference log's dead-letter file has a line that is not a dead letter; the message names the line."""
