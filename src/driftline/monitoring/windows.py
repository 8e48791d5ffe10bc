"""Where a monitoring run sits in time: the windows a span of the inference log is cut into, a window's edges and
name as its summary gives them, and the moment a run's figures belong to (its window's end, else when it ran)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from driftline.core.layout import MINUTE, RUN_STAMP, stamp
from driftline.errors import MonitorError
from driftline.monitoring.summary import Summary


def windows(start: datetime, end: datetime, every: timedelta) -> list[tuple[datetime, datetime]]:
    """[START, END) cut into windows of EVERY from START; the last one ends at END."""
    if every <= timedelta(0):
        raise MonitorError(f"the window length must be positive, not {every}")
    if end <= start:
        raise MonitorError(f"the span {start.isoformat()}..{end.isoformat()} is empty")
    edges, moment = [], start
    while moment < end:
        edges.append((moment, min(moment + every, end)))
        moment += every
    return edges


def window_edges(start: datetime | None, end: datetime) -> dict:
    """A log window as a summary's `window`: its edges in UTC, ISO (an open start is None)."""
    return {"start": None if start is None else start.astimezone(timezone.utc).isoformat(),
            "end": end.astimezone(timezone.utc).isoformat()}


def log_name(start: datetime | None, end: datetime | None) -> str:
    """A log window's batch name, `log START..END` (UTC, to the minute; an open edge is blank)."""
    shown = ["" if moment is None else stamp(MINUTE, moment) for moment in (start, end)]
    return f"log {shown[0]}..{shown[1]}"


def window_end(summary: Summary) -> datetime:
    """The end of the run's window (`window.end`, ISO), or for a batch the moment it was monitored."""
    end = (summary.window or {}).get("end")
    moment = datetime.fromisoformat(end) if end else datetime.strptime(summary.created, RUN_STAMP)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
