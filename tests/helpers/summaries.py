"""Monitoring summaries shaped as orchestration.monitor writes summary.json (a binary model), three windows apart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from driftline.monitoring.summary import Summary

ENDS = [datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(days=day) for day in range(3)]


def summary(window: int) -> dict:
    """Window WINDOW (0, 1, 2) of a log: age drifts more each day, the champion changes on the last."""
    shift = 0.05 * window
    end = ENDS[window]
    return {
        "dataset_drift": window == 2, "drifted_share": shift, "drifted_columns": ["age"] if window else [],
        "prediction_drift": False, "scores": {"age": 0.04 + shift, "sex": 0.02, "prediction": 0.03 + shift / 2},
        "method": {"numeric": "wasserstein", "categorical": "jensenshannon", "threshold": 0.1},
        "batch": f"log {(end - timedelta(days=1)):%Y-%m-%dT%H:%MZ}..{end:%Y-%m-%dT%H:%MZ}", "task": "binary",
        "rows": 1000 + window, "reference_rows": 5000, "report": f"/reports/monitoring/{window}/report.html",
        "created": f"{end + timedelta(hours=1):%Y-%m-%dT%H%M%S.%fZ}",
        "model_version": "v2" if window == 2 else "v1",
        "window": {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()},
        "performance": {
            "rows": 1000, "labelled_rows": 500 * window, "label_coverage": 0.5 * window,
            "realised": {"roc_auc": 0.92 - shift, "accuracy": 0.86} if window else None,
            "estimated": {"roc_auc": 0.93 - shift, "accuracy": 0.87},
            "estimated_on_labelled": {"roc_auc": 0.925 - shift, "accuracy": 0.865} if window else None,
            "reference": {"roc_auc": 0.92, "accuracy": 0.866},
            "sampling_error": {"roc_auc": 0.01, "accuracy": 0.008},
            "thresholds": {"roc_auc": {"lower": 0.86, "upper": 0.98}, "accuracy": {"lower": 0.82, "upper": 0.91}},
        },
        "attribution": {"rows": 300, "shares": {"age": 0.5 + shift, "sex": 0.5 - shift},
                        "reference_shares": {"age": 0.5, "sex": 0.5}, "ndcg": 1.0 - shift},
        "fairness": {"sex": {"groups": {"Female": {"count": 357}, "Male": {"count": 643}},
                             "demographic_parity_difference": 0.16 + shift,
                             "reference_demographic_parity_difference": 0.15, "tpr_gap": None}},
        "alerts": [{"rule": "dataset_drift", "value": True, "threshold": None, "message": "dataset drift"}]
        if window == 2 else [],
    }


def write_summaries(reports_dir: Path) -> list[dict]:
    """The three summaries as monitoring runs store them: <date>/<time>-<batch>/summary.json."""
    summaries = [summary(window) for window in range(3)]
    write(reports_dir, summaries)
    return summaries


def old_summary(window: int) -> dict:
    """Window WINDOW as a run wrote it before performance was monitored: no task, performance or window."""
    keys = ("dataset_drift", "drifted_share", "drifted_columns", "prediction_drift", "scores", "batch", "rows",
            "report", "created", "model_version", "alerts")
    return {key: summary(window)[key] for key in keys}


def typed(summaries: list[dict]) -> list[Summary]:
    """SUMMARIES as monitoring.summary reads them."""
    return [Summary.model_validate(each) for each in summaries]


def write(reports_dir: Path, summaries: list[dict]) -> None:
    """SUMMARIES stored as monitoring runs store them, one folder per run."""
    for n, each in enumerate(summaries):
        folder = reports_dir / each["created"][:10] / f"{each['created'][11:]}-log_{n}"
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps(each))
