"""`driftline`: run the pipeline, ingest a batch, score, serve and monitor. Run it from the project root.

One module per command group; each command is one library call. Heavy libraries are imported inside the
commands, so `driftline --help` starts fast.
"""

from driftline.cli import (  # noqa: F401  (each registers commands)
    data,
    history,
    logs,
    models,
    monitor,
    project,
    report,
    rollout,
    serving,
    workspace,
)
from driftline.cli.common import app

__all__ = ["app"]
