"""The errors driftline reports to users, kept light so the CLI can name them without heavy imports."""

from __future__ import annotations


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message names the offending keys."""


class DataError(ValueError):
    """A batch that cannot be read or does not fit the schema."""


class ContractError(ValueError):
    """The data broke the contract; carries one line per failed expectation."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("data contract failed:\n  " + "\n  ".join(problems))


class IngestError(RuntimeError):
    """The batch was refused or could not be stored; the data and its version are as they were."""


class StageFailed(RuntimeError):
    """A pipeline stage failed; the message names the stage and DVC's reason."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        super().__init__(f"stage '{stage}' failed: {reason}")


class MonitorError(RuntimeError):
    """A drift report lacks the results the monitoring decision needs."""


class RegistryError(RuntimeError):
    """A registry request that cannot be met: an unknown version, no champion, a refused promotion."""
