"""The release use case, which the CLI and the training flow call alike: the packaged model released
(release.publish), then the report site rebuilt to list the version where the release wrote its reports."""

from __future__ import annotations

from pathlib import Path

from driftline.config import Params
from driftline.release import publish
from driftline.reporting.index import build_index


def release(params: Params, root: Path = Path("."), alert: str | None = None) -> dict:
    """release.publish's release of the packaged model (ALERT: the alert record that started this training run),
    and ROOT's reports/index.html rebuilt when it wrote the version's reports; the release's outcome."""
    result = publish.release(params, root, alert)
    if result["reports"]:
        build_index(root)
    return result
