"""The workspace's dashboard, built in code: tabs for drift, performance, fairness, explanations, segments, and
alerts and model versions, whose panels draw the figures (monitoring.figures) of every snapshot over time."""

from __future__ import annotations

from evidently.sdk.models import DashboardModel, DashboardPanelPlot, DashboardTabModel, PanelMetric
from evidently.sdk.panels import bar_plot_panel, line_plot_panel

from driftline.monitoring.figures import DriftlineFigure
from driftline.monitoring.uncertainty import BAND

FIGURE = DriftlineFigure.__get_type__()


def series(group: str, label: str | None = None, legend: str = "{{label}}") -> PanelMetric:
    """The figures of GROUP (one series per label), or its one LABEL; the UI fills {{label}} in the legend."""
    labels = {"group": group} | ({"label": label} if label is not None else {})
    return PanelMetric(legend=legend if label is None else label, metric=FIGURE, metric_labels=labels)


def tabs(groups: set[str]) -> dict[str, list[DashboardPanelPlot]]:
    """The panels of each tab; GROUPS name the performance metrics, fairness gaps and segment figures that the
    runs had."""
    performance = sorted(g for g in groups if g.startswith("performance."))
    fairness = sorted(g for g in groups if g.startswith("fairness."))
    segments = sorted(g for g in groups if g.startswith("segment."))
    return {
        "Drift": [
            line_plot_panel("Drift score per column", [series("drift.score")]),
            line_plot_panel("Drifted share of the columns", [series("drift", "drifted share")], size="half"),
            bar_plot_panel("Drift decisions (1: drifted)", [series("drift", "dataset drift"),
                                                            series("drift", "prediction drift")], size="half"),
            line_plot_panel("Prediction drift score", [series("drift.prediction")]),
        ],
        "Performance": [
            *(line_plot_panel(f"{g.removeprefix('performance.')}: realised and estimated",
                              [series(g)], description=f"the estimate's band is ±{BAND} sampling errors; the "
                              "thresholds are the mean ± 3 standard deviations of reference chunks of the test split, "
                              "scaled to the window's rows")
              for g in performance),
            line_plot_panel("Label coverage", [series("labels", "coverage")]),
        ],
        "Fairness": [line_plot_panel(f"{g.removeprefix('fairness.')} per attribute", [series(g)]) for g in fairness],
        "Explanations": [
            line_plot_panel("Attribution ranking against the audit (nDCG)", [series("attribution", "nDCG")]),
            bar_plot_panel("Attribution shares", [series("attribution.share")], stacked=True),
        ],
        **({"Segments": [line_plot_panel(f"{g.removeprefix('segment.')} per segment", [series(g)],
                                         description="one series per segment value (monitor.segments); its "
                                                     "legend filters them") for g in segments]}
           if segments else {}),  # a tab only where the runs watched segments
        "Alerts and model versions": [
            bar_plot_panel("Alerts per run", [series("alerts", "count")], size="half"),
            bar_plot_panel("Rules fired", [series("alerts.rule")], size="half", stacked=True),
            bar_plot_panel("Rows per model version", [series("model_version")], stacked=True),
        ],
    }


def dashboard(groups: set[str]) -> DashboardModel:
    """The dashboard over the figure GROUPS (monitoring.figures) that the project's runs had."""
    built = tabs(groups)
    return DashboardModel(tabs=[DashboardTabModel(title=title, panels=[p.id for p in panels])
                                for title, panels in built.items()],
                          panels=[p for panels in built.values() for p in panels])


def groups_of(model: DashboardModel) -> set[str]:
    """The figure groups a dashboard's panels draw."""
    return {value.metric_labels["group"] for panel in model.panels for value in panel.values
            if "group" in value.metric_labels}
