"""Alerts: the monitoring policy applied to a monitoring summary, and what an alert does when a rule fires.

An alert is a JSON record under reports/alerts/, a markdown artifact when it is raised inside a Prefect
run, a Prefect event `driftline.alert` on the resource `driftline.model.<name>` (the `training`
deployment of prefect.yaml has a trigger on it, so an alert retrains), and a POST to the webhook of
params.yaml when one is set. Only the record is certain: the event needs a Prefect API and the webhook
a receiver, and neither failing stops monitoring.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from pathlib import Path

import httpx

from driftline.config import Params, PolicyParams
from driftline.core.artifacts import json_default, write_json
from driftline.core.layout import ALERTS_DIR, iso_z
from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY
from driftline.monitoring.summary import Figures, Summary

EVENT = "driftline.alert"
ARTIFACT_KEY = "drift-alert"
# The fairness gap (monitoring.fairness) that the parity rule reads per task: what the model answers, no labels
PARITY_GAP = {"binary": "demographic_parity_difference", "multiclass": "selection_rate_gap",
              "regression": "mean_prediction_gap"}

log = logging.getLogger(__name__)


def _finding(rule: str, value, threshold, message: str, **extra) -> dict:
    return {"rule": rule, "value": value, "threshold": threshold, "message": message, **extra}


def _dataset_drift(figures: Figures, policy: PolicyParams) -> dict | None:
    if not policy.dataset_drift or not figures.dataset_drift:
        return None
    columns = figures.drifted_columns or []
    return _finding("dataset_drift", True, None,
                    f"dataset drift: {len(columns)} drifted column(s): {', '.join(columns) or 'none named'}")


def _current(performance: dict, metric: str) -> tuple[str | None, float | None]:
    """METRIC realised when the window had enough labels, else estimated (CBPE, DLE) from the answers."""
    for source in ("realised", "estimated"):
        value = (performance.get(source) or {}).get(metric)
        if value is not None:
            return source, value
    return None, None


def _metric_drop(figures: Figures, policy: PolicyParams) -> dict | None:
    performance, kind = figures.performance, figures.task
    if policy.max_metric_drop is None or not performance:
        return None
    metric = PRIMARY[kind]
    reference = (performance.get("reference") or {}).get(metric)
    source, value = _current(performance, metric)
    if reference is None or value is None:
        return None
    worse = reference - value if HIGHER_IS_BETTER[kind][metric] else value - reference
    drop = round(worse, 6)  # rounded so that a drop equal to the threshold does not fire on float noise
    if drop <= policy.max_metric_drop:
        return None
    return _finding("metric_drop", drop, policy.max_metric_drop,
                    f"{source} {metric} {value:.4f} is {drop:.4f} worse than the model's test {metric} "
                    f"{reference:.4f} (allowed: {policy.max_metric_drop})", source=source, metric=metric)


def _parity_gap(figures: Figures, policy: PolicyParams) -> dict | None:
    fairness, gap = figures.fairness, PARITY_GAP[figures.task]
    if policy.max_parity_gap is None or not fairness:
        return None
    gaps = {attribute: round(metrics[gap], 6)
            for attribute, metrics in fairness.items() if metrics.get(gap) is not None}
    over = {attribute: value for attribute, value in gaps.items() if value > policy.max_parity_gap}
    if not over:
        return None
    worst = max(over, key=over.get)
    listed = ", ".join(f"{attribute} {value:.3f}" for attribute, value in sorted(over.items(), key=lambda kv: -kv[1]))
    return _finding("parity_gap", over[worst], policy.max_parity_gap,
                    f"{gap} above {policy.max_parity_gap}: {listed}", attribute=worst, gap=gap)


def _attribution(figures: Figures, policy: PolicyParams) -> dict | None:
    ndcg = (figures.attribution or {}).get("ndcg")
    if policy.min_attribution_ndcg is None or ndcg is None:
        return None
    ndcg = round(ndcg, 6)
    if ndcg >= policy.min_attribution_ndcg:
        return None
    return _finding("attribution_ndcg", ndcg, policy.min_attribution_ndcg,
                    f"feature-attribution ranking moved: nDCG {ndcg:.3f} against the audit's "
                    f"(minimum {policy.min_attribution_ndcg})")


def evaluate(summary: Summary, policy: PolicyParams) -> list[dict]:
    """One finding {rule, value, threshold, message} per rule of POLICY that SUMMARY breaks, then one per rule
    that a segment breaks (_segments).

    The metric and the parity gap are the summary's task's (core.metrics.PRIMARY, PARITY_GAP). A rule is
    skipped when its threshold is null or the summary has no input for it (no labels and no estimate, no
    fairness or attribution section).
    """
    checks = (_dataset_drift, _metric_drop, _parity_gap, _attribution)
    found = [finding for check in checks if (finding := check(summary, policy)) is not None]
    return found + _segments(summary, policy)


def _segments(summary: Summary, policy: PolicyParams) -> list[dict]:
    """With policy.segments, the drift, metric-drop and parity-gap rules applied to each segment of the summary
    (monitoring.segments gives each one a summary's shape), as rules `segment_<rule>` whose findings name it
    (`segment`: `sex=Female`)."""
    if not policy.segments:
        return []
    found = []
    for label, segment in ((summary.segments or {}).get("values") or {}).items():
        as_summary = Figures.model_validate(segment | {"task": summary.task})
        for check in (_dataset_drift, _metric_drop, _parity_gap):
            if (finding := check(as_summary, policy)) is not None:
                found.append(finding | {"rule": f"segment_{finding['rule']}", "segment": label,
                                        "message": f"segment {label}: {finding['message']}"})
    return found


def key_figures(summary: Summary) -> dict:
    """The figures of a monitoring summary that an alert reader needs without opening the report."""
    performance, kind = summary.performance or {}, summary.task
    return {
        "rows": summary.rows,
        "dataset_drift": summary.dataset_drift,
        "drifted_columns": summary.drifted_columns,
        "metric": PRIMARY[kind],
        PRIMARY[kind]: {source: (performance.get(source) or {}).get(PRIMARY[kind])
                        for source in ("realised", "estimated", "reference")},
        "label_coverage": performance.get("label_coverage"),
        "parity_gap": {attribute: metrics.get(PARITY_GAP[kind])
                       for attribute, metrics in (summary.fairness or {}).items()},
        "attribution_ndcg": (summary.attribution or {}).get("ndcg"),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:120]


def _plain(value):
    """VALUE as plain JSON types (numpy scalars as Python numbers), so every consumer can serialise it."""
    return json.loads(json.dumps(value, default=json_default))


def post_webhook(url: str, body: dict, timeout_s: float) -> dict:
    """POST BODY as JSON; {status, error}, never raising: an unreachable receiver must not stop monitoring."""
    try:
        response = httpx.post(url, json=body, timeout=timeout_s)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # the URL may carry a token (Slack, Teams), so it stays out of the record and the log
        error = f"{type(exc).__name__}: {str(exc).replace(url, '<webhook>')}"
        log.warning("alert webhook failed: %s", error)
        return {"status": None, "error": error}
    if response.is_success:
        return {"status": response.status_code, "error": None}
    log.warning("alert webhook answered HTTP %s", response.status_code)
    return {"status": response.status_code, "error": f"HTTP {response.status_code}"}


# Prefect is imported only where an alert fires: it costs a monitoring run a second of start-up otherwise.
def _in_prefect_run() -> bool:
    if "prefect.context" not in sys.modules:  # a process in a Prefect run has imported it
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def prefect_api() -> bool:
    """Whether PREFECT_API_URL names a server: without one, emit_event would start a throwaway local server
    (seconds) whose automations nobody configured."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def alert_markdown(record: dict) -> str:
    """The alert as markdown: what fired, for which model and batch, and where the record and report are."""
    lines = [
        f"**Alert** for model {record['model']} version {record['model_version']} on batch {record['batch']} "
        f"({record['figures']['rows']} rows): {len(record['findings'])} rule(s) fired.",
        f"Record: {record['record']}. Report: {record['report']}",
        "", "| rule | value | threshold | message |", "|---|---|---|---|",
    ]
    lines += [f"| {f['rule']} | {f['value']} | {f['threshold']} | {f['message']} |" for f in record["findings"]]
    return "\n".join(lines)


def _emit(record: dict) -> None:
    """The event that the `training` deployment's trigger waits for (sent in the background by Prefect)."""
    from prefect.events import emit_event

    emit_event(
        event=EVENT, id=uuid.UUID(record["event"]["id"]),
        resource={"prefect.resource.id": record["event"]["resource"], "prefect.resource.name": record["model"],
                  "driftline.model.version": str(record["model_version"])},
        payload={"findings": record["findings"], "batch": record["batch"],
                 "model_version": record["model_version"], "record": record["record"]},
    )


def raise_alert(summary: Summary, findings: list[dict], params: Params, root: Path,
                timeout_s: float = 5.0) -> dict | None:
    """Record, publish, emit and send an alert for FINDINGS on SUMMARY; the record, or None without findings.

    The record goes to ROOT/reports/alerts/<created>-<batch>.json; the event `driftline.alert` goes to
    the Prefect API when PREFECT_API_URL is set; the artifact is created only inside a Prefect run; the
    webhook (params.monitor.webhook) gets the record as JSON, and its outcome is recorded.
    """
    if not findings:
        return None
    model = params.package.model_name
    path = Path(root) / ALERTS_DIR / f"{_slug(summary.created + '-' + summary.batch)}.json"
    emitted = prefect_api()
    record = _plain({
        "raised": iso_z(),
        "model": model, "model_version": summary.model_version,
        "batch": summary.batch, "monitored": summary.created, "report": summary.report,
        "record": str(path), "findings": findings, "figures": key_figures(summary),
        "event": {"event": EVENT, "id": str(uuid.uuid4()), "resource": f"driftline.model.{model}",
                  "emitted": emitted},
    })
    webhook = params.monitor.webhook
    record["webhook"] = post_webhook(webhook, record, timeout_s) if webhook else None
    write_json(path, record)  # atomic: a reader never sees half a record
    if emitted:
        _emit(record)
    if _in_prefect_run():  # outside a run, Prefect would warn and start a throwaway server for the artifact
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(key=ARTIFACT_KEY, markdown=alert_markdown(record),
                                 description=f"Monitoring alert: {', '.join(f['rule'] for f in findings)}")
    return record
