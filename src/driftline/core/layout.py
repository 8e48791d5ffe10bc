"""The project's folder layout and its time stamps: every path one component writes for another to read, and
every stamp in a file name or a record, come from here (the stages' own outputs are named by dvc.yaml and found
through core.artifacts).

All times are UTC. Three stamps name files and folders, each sorting as its time does:
- BATCH_STAMP, `20261207T184501123456Z`: a batch that ingest or labels stored, `<stamp>-<name>.csv`;
- RUN_STAMP, `2026-12-07T184501.123456Z`: a monitoring run (its summary's `created`, and its folder
  `<date>/<time>-<name>`) and a rollout decision's file;
- ISO 8601 to the second (`2026-12-07T18:45:01+00:00`) in the registry's records and the decisions, and with a
  `Z` in an alert's `raised`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

REPORTS = Path("reports")
ALERTS_DIR = REPORTS / "alerts"  # monitoring's alert records, one per alert; the ledger reads them
RUNS_DIR = REPORTS / "runs"  # one folder per released version: its reports as the release saw them
DECISIONS_DIR = "decisions"  # under the registry folder: <candidate version>/<RUN_STAMP>.json per `rollout decide`

BATCH_STAMP = "%Y%m%dT%H%M%S%fZ"
RUN_STAMP = "%Y-%m-%dT%H%M%S.%fZ"
MINUTE = "%Y-%m-%dT%H:%MZ"  # a log window's edges in its name
SHOWN = "%Y-%m-%d %H:%M UTC"  # a time on a page


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(form: str, moment: datetime | None = None) -> str:
    """MOMENT (default: now) in UTC, written in FORM (one of the stamps above)."""
    return (moment or utc_now()).astimezone(timezone.utc).strftime(form)


def iso_seconds(moment: datetime | None = None) -> str:
    """MOMENT (default: now) as ISO 8601 in UTC to the second, `+00:00`: the registry's and the decisions' times."""
    return (moment or utc_now()).astimezone(timezone.utc).isoformat(timespec="seconds")


def iso_z(moment: datetime | None = None) -> str:
    """iso_seconds with `Z` for UTC: an alert's `raised`."""
    return iso_seconds(moment).replace("+00:00", "Z")
