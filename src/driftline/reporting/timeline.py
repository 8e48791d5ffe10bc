"""The monitoring runs over time, as static SVG figures for the report index: per task, each window's estimated
primary metric with its ±3 sampling-error band, the realised value where labels arrived, the thresholds from
reference chunks, alert markers and the champion's changes, over trend lines of the drifted share and the largest
fairness gap, as NannyML draws a performance estimate per chunk.

matplotlib (and the metric tables, which bring torch) are imported only when there are runs to draw, and pyplot
never: a bare Figure on the SVG canvas renders fifty runs in a fraction of a second, and the index is rebuilt
after every monitoring run. A summary lacking a figure (an old one, a window without labels or without an
estimate's error) leaves a gap in that series, not an error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from driftline.monitoring.summary import Summary
from driftline.monitoring.uncertainty import BAND
from driftline.monitoring.windows import window_end

FOLDER = "timeline"  # under reports/: one <task>.svg per task the runs had
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "driftline", "font.size": 8}  # text as text; stable ids

log = logging.getLogger(__name__)


def placed(summaries: list[Summary]) -> dict[str, list[tuple[datetime, Summary]]]:
    """The SUMMARIES per task, each beside its window's end, in time order; a summary that cannot be placed in
    time is left out (logged)."""
    groups: dict[str, list[tuple[datetime, Summary]]] = {}
    for summary in summaries:
        try:
            moment = window_end(summary)
        except ValueError as error:
            log.warning("the timeline skips a run without a readable window end or creation time: %s", error)
            continue
        groups.setdefault(summary.task, []).append((moment, summary))
    return {kind: sorted(runs, key=lambda run: run[0]) for kind, runs in sorted(groups.items())}


def figure_of(figures: object, key: str) -> float:
    """FIGURES[KEY] as a float, NaN where the summary lacks it (NaN leaves a gap in a matplotlib line)."""
    value = figures.get(key) if isinstance(figures, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def series(runs: list[Summary], metric: str, gap: str) -> dict[str, list[float]]:
    """What the figure draws of each run, NaN where absent: the estimate of METRIC (of the unlabelled rows, or of
    the labelled ones for a window labelled throughout), its sampling error, the realised value, the thresholds,
    the drifted share and the largest GAP (a fairness gap) over the sensitive attributes."""
    drawn: dict[str, list[float]] = {key: [] for key in ("estimated", "error", "realised", "lower", "upper",
                                                         "drifted", "gap")}
    for summary in runs:
        performance = summary.performance or {}
        estimate = figure_of(performance.get("estimated"), metric)
        if estimate != estimate:  # NaN
            estimate = figure_of(performance.get("estimated_on_labelled"), metric)
        bounds = (performance.get("thresholds") or {}).get(metric)
        gaps = [figure_of(gaps, gap) for gaps in (summary.fairness or {}).values()]
        gaps = [g for g in gaps if g == g]
        drawn["estimated"].append(estimate)
        drawn["error"].append(figure_of(performance.get("sampling_error"), metric))
        drawn["realised"].append(figure_of(performance.get("realised"), metric))
        drawn["lower"].append(figure_of(bounds, "lower"))
        drawn["upper"].append(figure_of(bounds, "upper"))
        drawn["drifted"].append(figure_of({"drifted_share": summary.drifted_share}, "drifted_share"))
        drawn["gap"].append(max(gaps) if gaps else float("nan"))
    return drawn


def changes(runs: list[Summary]) -> list[int]:
    """The positions of the runs whose model version differs from the run before: the champion changed."""
    versions = [run.model_version for run in runs]
    return [n for n in range(1, len(versions)) if versions[n] != versions[n - 1]]


def draw(kind: str, placed_runs: list[tuple[datetime, Summary]], path: Path) -> Path:
    """Write the SVG of one task's runs to PATH. The artists carry ids (gid) that the SVG keeps: `estimate`,
    `band`, `realised`, `threshold-lower`, `threshold-upper`, `alerts`, `champion-changes`, `drifted-share`,
    `fairness-gap`."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY
    from driftline.monitoring.alerts import PARITY_GAP

    metric, gap = PRIMARY[kind], PARITY_GAP[kind]
    x = [moment for moment, _ in placed_runs]
    runs = [summary for _, summary in placed_runs]
    drawn = series(runs, metric, gap)
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(7.5, 5.2), layout="constrained")
        FigureCanvasSVG(figure)
        main, drift, fairness = figure.subplots(3, 1, sharex=True, height_ratios=[4, 1, 1])
        performance_axes(main, x, drawn, runs, f"{metric} ({'higher' if HIGHER_IS_BETTER[kind][metric] else 'lower'}"
                                               " is better)")
        trend(drift, x, drawn["drifted"], "drifted share", "drifted-share")
        trend(fairness, x, drawn["gap"], f"largest {gap}".replace("_", " "), "fairness-gap")
        moved = changes(runs)
        for axes in (main, drift, fairness):
            lines = axes.vlines([x[n] for n in moved], 0, 1, transform=axes.get_xaxis_transform(), colors="#8250df",
                                linestyles=":", linewidth=1)
            if axes is main:
                lines.set_gid("champion-changes")
        for n in moved:
            main.annotate(str(runs[n].model_version), (x[n], 0.02), xycoords=main.get_xaxis_transform(),
                          rotation=90, va="bottom", ha="right", fontsize=6, color="#8250df")
        locator = AutoDateLocator()
        fairness.xaxis.set_major_locator(locator)
        fairness.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        figure.suptitle(f"{kind}: {metric} per window, at the window's end", x=0.01, ha="left", fontsize=9)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="svg", metadata={"Date": None})
    return path


def performance_axes(axes, x: list[datetime], drawn: dict[str, list[float]], runs: list[Summary], label: str) -> None:
    """The estimate with its ±BAND sampling-error band, the realised values, the thresholds and the alerts."""
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.dates import date2num

    estimate, error = np.array(drawn["estimated"]), np.array(drawn["error"])
    left, right = spans(date2num(x))
    low, high = estimate - BAND * error, estimate + BAND * error
    band = [[(a, lo), (b, lo), (b, hi), (a, hi)] for a, b, lo, hi in zip(left, right, low, high) if lo == lo]
    axes.add_collection(PolyCollection(band, facecolors="#0969da", alpha=0.18, linewidths=0,
                                       label=f"±{BAND} sampling errors", gid="band"))
    axes.plot(x, estimate, "o-", color="#0969da", markersize=3, linewidth=1.2, label="estimated", gid="estimate")
    axes.plot(x, drawn["realised"], "s", color="#1a7f37", markersize=4, label="realised", gid="realised")
    for edge in ("lower", "upper"):
        axes.plot(x, drawn[edge], "--", color="#bf8700", linewidth=1, drawstyle="steps-mid",
                  label="thresholds" if edge == "lower" else None, gid=f"threshold-{edge}")
    alerted = [moment for moment, summary in zip(x, runs) if summary.alerts]
    axes.plot(alerted, [0.97] * len(alerted), "v", color="#cf222e", markersize=6, linestyle="none", clip_on=False,
              transform=axes.get_xaxis_transform(), label="alert", gid="alerts")
    if np.isnan(estimate).all() and np.isnan(np.array(drawn["realised"])).all():
        axes.text(0.5, 0.5, "no performance figures in these runs", transform=axes.transAxes, ha="center",
                  color="#666")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=7, ncols=5, frameon=False, borderaxespad=0)


def spans(x):
    """Each window's stretch of the time axis (date numbers X, in order): halfway to its neighbours, as far on
    the open side as on the other, a day for a lone run. The band is drawn per window over it, as NannyML draws
    a chunk's, so that a window between two without an estimate's error still shows its own."""
    import numpy as np

    if len(x) == 1:
        return x - 0.5, x + 0.5
    middles = (x[1:] + x[:-1]) / 2
    return np.r_[2 * x[0] - middles[0], middles], np.r_[middles, 2 * x[-1] - middles[-1]]


def trend(axes, x: list[datetime], values: list[float], label: str, gid: str) -> None:
    """A small trend line (sparkline) of one figure per run."""
    axes.plot(x, values, "-", marker=".", color="#57606a", linewidth=1, markersize=3, gid=gid)
    axes.set_title(label, loc="left", fontsize=7, pad=2)
    axes.tick_params(axis="y", labelsize=6)
    axes.grid(alpha=0.3)


def write_timelines(reports: Path, summaries: list[Summary]) -> list[Path]:
    """Draw reports/timeline/<task>.svg for each task the monitoring SUMMARIES had (a task name that is none of
    the known ones is not drawn); stale figures are removed first. Returns the figures' paths (none without
    summaries, and then matplotlib is not imported)."""
    folder = reports / FOLDER
    for stale in folder.glob("*.svg"):
        stale.unlink()
    groups = placed(summaries)
    if not groups:
        return []
    from driftline.core.metrics import PRIMARY

    return [draw(kind, runs, folder / f"{kind}.svg") for kind, runs in groups.items() if kind in PRIMARY]
