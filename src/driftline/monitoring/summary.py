"""A monitoring run's summary: what monitoring.analysis finds in a batch or a log window, written as the run's
summary.json and read by the alert policy, the workspace's snapshots, the report index and the timeline.

Its sections of figures (performance, attribution, fairness, segments) keep the shape their modules give them.
Every summary written before loads: one written before driftline had tasks has no `task` (it was binary), one
before the estimates, attributions, fairness or segments lacks those sections, a batch's has no `window`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from driftline.errors import MonitorError
from driftline.schema import TaskKind


class Figures(BaseModel):
    """What the alert policy reads (monitoring.alerts): a summary's figures, or one segment's, which
    monitoring.segments gives a summary's shape."""

    model_config = ConfigDict(extra="ignore")

    task: TaskKind = "binary"  # summaries written before tasks were all binary
    dataset_drift: bool | None = None  # a segment too small to compare with its reference has no drift figures
    drifted_columns: list[str] | None = None
    performance: dict[str, Any] | None = None
    attribution: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None


class Summary(Figures):
    """One run: the drift found (Evidently's scores per column, the drifted ones and their share), the BATCH's
    name and ROWS, the model version that answered, the reports' paths, when it ran (CREATED, core.layout's
    RUN_STAMP), the log WINDOW it covers, and the alerts the policy raised."""

    dataset_drift: bool
    drifted_columns: list[str]
    drifted_share: float | None = None
    prediction_drift: bool = False
    scores: dict[str, float] = {}
    method: dict[str, Any] | None = None
    batch: str
    rows: int
    reference_rows: int | None = None
    report: str
    created: str
    model_version: str | None = None
    window: dict[str, str | None] | None = None
    segments: dict[str, Any] | None = None
    performance_report: str | None = None
    alerts: list[dict[str, Any]] = []
    alert_record: str | None = None
    model_versions: list[str] | None = None  # a log window's: the versions that answered it; not stored

    def to_json(self) -> dict:
        """The summary as summary.json holds it: the fields it was given (numpy numbers left to write_json)."""
        return self.model_dump(exclude_unset=True, exclude={"model_versions"})

    @classmethod
    def read(cls, path: Path) -> Summary:
        """The summary stored at PATH; a MonitorError naming it where it is not one."""
        try:
            return cls.model_validate_json(path.read_text())
        except (OSError, ValidationError) as exc:
            raise MonitorError(f"{path} is not a readable monitoring summary: {exc}") from None
