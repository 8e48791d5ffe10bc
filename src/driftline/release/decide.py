"""`driftline rollout decide`: the running rollout's evidence from the inference log, the policy's outcome
(params.yaml registry.rollout.decide), and what the outcome moves.

The evidence is the log's rows created since the rollout started (serving.log.read_window with arms):
- labelled records: the task's primary metric per arm and the interval of candidate minus champion
  (release.comparison): paired in shadow (the record ids both arms scored), unpaired in canary (each arm's
  own records);
- unlabelled records: each arm's estimated metrics (CBPE for classification, DLE for regression), where the
  model's reference.json allows;
- guards: the drift score (monitor.num_method) of the candidate's answers against the champion's, and each
  arm's largest parity gap over the sensitive attributes (monitoring's fairness of the answers).

The outcome is `promote` (the champion alias moves to the candidate and the rollout stops), `rollback` (the
rollout stops and the candidate's registry entry gets `refused`: {time, reason, decision}) or `wait` (nothing
moves). Each decision emits the Prefect event `driftline.rollout.<outcome>` on the resource
`driftline.model.<model name>` when PREFECT_API_URL names a server (a failure there is logged, never raised).

Evidence: each decision is a JSON file under the registry, `decisions/<candidate version>/<UTC stamp>.json`,
written before anything moves; the history records of the moves it makes carry its path as `evidence`:
- time (ISO UTC, the window's end), version (the candidate), champion, mode, canary_share, started, window
  {start, end}, hours (since the start);
- outcome (promote | wait | rollback), reasons (one sentence each), moved (whether an alias moved);
- metric, records {champion, candidate, paired (shadow; null in canary), labelled (what the policy counts)},
  realised (release.comparison.compare: each arm's value, difference, interval, improvement, method, or null
  with too few labels), estimated {method, rows, champion, candidate, difference}, guards {prediction_drift,
  fairness}, policy (registry.rollout.decide as set);
- evidence (this file's path, relative to the registry folder) and event {event, resource, emitted, error}.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import DecisionPolicy, Params
from driftline.core.artifacts import write_json
from driftline.core.data import coerce
from driftline.core.layout import DECISIONS_DIR, RUN_STAMP, iso_seconds, stamp
from driftline.core.metrics import PRIMARY
from driftline.core.predictor import Predictor
from driftline.core.spread import subset
from driftline.errors import RegistryError
from driftline.monitoring.alerts import PARITY_GAP, prefect_api
from driftline.monitoring.analysis import PREDICTED, fairness
from driftline.monitoring.drift import drift_report, prediction_columns, prediction_frame, summarise
from driftline.monitoring.performance import estimator
from driftline.registry.resolver import resolve
from driftline.registry.store import CHAMPION, Registry
from driftline.release import rollout as rollouts
from driftline.release.comparison import compare
from driftline.release.rollout_decision import Event, Records, RolloutDecision, Window

EVENT = "driftline.rollout"  # the event is EVENT.<outcome>
ARMS = ("champion", "candidate")
log = logging.getLogger(__name__)


@dataclass
class Arm:
    """One arm's model and its rows of the window: typed features, answers (core.task: decode) and late
    targets (NaN where no label has arrived)."""

    predictor: Predictor
    reference: dict  # the model's reference.json ({} where it has none)
    model_dir: Path
    rows: pd.DataFrame
    typed: pd.DataFrame
    answers: dict[str, np.ndarray]
    y: np.ndarray

    @property
    def labelled(self) -> np.ndarray:
        return ~np.isnan(self.y)


def load_arm(registry: Registry, version: str, window: pd.DataFrame, arm: str) -> Arm:
    """VERSION's model and ARM's rows of WINDOW, one per record id (the last, where a client retried)."""
    resolved = resolve(registry, version)
    predictor = resolved.predictor()
    reference_path = resolved.path / "reference.json"
    reference = json.loads(reference_path.read_text()) if reference_path.is_file() else {}
    rows = window[window["arm"] == arm].drop_duplicates("record_id", keep="last").reset_index(drop=True)
    task = predictor.task
    return Arm(predictor, reference, resolved.path, rows,
               coerce(rows, predictor.schema, predictor.schema.features, predictor.na_values),
               task.answers(rows[task.output_columns]), task.late_targets(rows, predictor.na_values))


def scored(arm: Arm, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ARM's (targets, scores) of the rows MASK picks, as card.primary_metric takes them."""
    kind = arm.predictor.task.kind
    y = arm.y[mask] if kind == "regression" else arm.y[mask].astype(np.int64)
    return y, arm.answers[PREDICTED[kind]][mask]


def realised(champion: Arm, candidate: Arm, paired: bool, policy: DecisionPolicy) -> tuple[dict | None, int]:
    """The labelled comparison (release.comparison.compare) and the labelled count the policy reads: the
    records labelled in both arms when PAIRED (shadow), else the smaller arm's. None below min_labelled."""
    kind = champion.predictor.task.kind
    if paired:
        shared = np.intersect1d(champion.rows["record_id"][champion.labelled],
                                candidate.rows["record_id"][candidate.labelled])
        masks = [arm.rows["record_id"].isin(shared).to_numpy() for arm in (champion, candidate)]
        order = [np.argsort(arm.rows["record_id"][mask].to_numpy(), kind="stable")
                 for arm, mask in zip((champion, candidate), masks)]
        arms = [tuple(part[rank] for part in scored(arm, mask))
                for arm, mask, rank in zip((champion, candidate), masks, order)]
        count = len(shared)
    else:
        arms = [scored(arm, arm.labelled) for arm in (champion, candidate)]
        count = min(len(a[0]) for a in arms)
    if count < policy.min_labelled or min(len(np.unique(y)) for y, _ in arms) < 2:
        return None, count
    return compare(kind, arms[0], arms[1], paired, policy.confidence, policy.bootstrap_rounds), count


def estimated(arms: dict[str, Arm]) -> dict:
    """Each arm's estimated metrics on its unlabelled records (CBPE or DLE; null where the model has no
    reference.json or the arm no unlabelled record) and the primary metric's difference, candidate minus
    champion."""
    figures, rows = {}, {}
    for name, arm in arms.items():
        unlabelled = ~arm.labelled
        rows[name] = int(unlabelled.sum())
        if not arm.reference or not unlabelled.any():
            figures[name] = None
            continue
        estimate = estimator(arm.predictor, arm.model_dir, arm.reference)
        figures[name] = estimate.estimate(subset(arm.answers, unlabelled), arm.typed[unlabelled])
    metric = PRIMARY[arms["champion"].predictor.task.kind]
    values = [(figures[a] or {}).get(metric) for a in ARMS]
    method = "DLE" if arms["champion"].predictor.task.kind == "regression" else "CBPE"
    return {"method": method, "metric": metric, "rows": rows, **figures,
            "difference": None if None in values else values[1] - values[0]}


def prediction_drift(params: Params, champion: Arm, candidate: Arm) -> dict:
    """The drift score (monitor.num_method, Evidently) of the candidate's answers against the champion's: the
    largest over the numeric answer columns (the probability, the class probabilities, the prediction)."""
    limit = params.registry.rollout.decide.max_prediction_drift
    found = {"score": None, "threshold": limit, "method": params.monitor.num_method, "fired": False}
    if min(len(champion.rows), len(candidate.rows)) < 2:
        return found
    task, schema = champion.predictor.task, champion.predictor.schema
    numeric, categorical = prediction_columns(task)
    # the answers alone: a schema of the target only has no features to compare
    answers_only = schema.model_copy(update={"columns": {schema.target: schema.columns[schema.target]}})
    frames = [prediction_frame(task, arm.rows[task.output_columns]) for arm in (champion, candidate)]
    snapshot = drift_report(frames[0], frames[1], answers_only, params.monitor, (numeric, categorical))
    scores = summarise(snapshot.dict(), numeric + categorical, numeric + categorical, params.monitor)["scores"]
    score = max(scores[column] for column in numeric)
    return found | {"score": score, "fired": limit is not None and not score < limit}


def fairness_gaps(params: Params, arms: dict[str, Arm]) -> dict:
    """Each arm's largest parity gap of its answers (monitoring's PARITY_GAP) over the sensitive attributes
    its rows carry, over the groups the champion's audit gated, and the candidate's increase."""
    limit = params.registry.rollout.decide.max_fairness_increase
    kind = arms["champion"].predictor.task.kind
    reference = {"fairness": arms["champion"].reference.get("fairness", {})}
    gaps = {}
    for name, arm in arms.items():
        threshold = arm.predictor.threshold if kind == "binary" else None
        attributes = fairness(arm.rows, arm.typed, arm.answers[PREDICTED[kind]], arm.y, threshold, params, reference)
        found = [(value[PARITY_GAP[kind]], attribute) for attribute, value in attributes.items()
                 if value[PARITY_GAP[kind]] is not None]
        gaps[name] = max(found) if found else None
    increase = None if None in gaps.values() else gaps["candidate"][0] - gaps["champion"][0]
    return {"gap": PARITY_GAP[kind], "threshold": limit, "increase": increase,
            **{name: None if gap is None else {"value": gap[0], "attribute": gap[1]} for name, gap in gaps.items()},
            "fired": limit is not None and increase is not None and increase > limit}


def guard_reasons(guards: dict) -> list[str]:
    """A sentence for each guard that fired."""
    reasons = []
    drift, fair = guards["prediction_drift"], guards["fairness"]
    if drift["fired"]:
        reasons.append(f"The candidate's answers drifted from the champion's: {drift['method']} score "
                       f"{drift['score']:.4f} reaches max_prediction_drift {drift['threshold']}.")
    if fair["fired"]:
        reasons.append(f"The candidate's largest {fair['gap']} ({fair['candidate']['value']:.4f}, "
                       f"{fair['candidate']['attribute']}) is above the champion's ({fair['champion']['value']:.4f}) "
                       f"by {fair['increase']:.4f}, more than max_fairness_increase {fair['threshold']}.")
    return reasons


def outcome_of(policy: DecisionPolicy, hours: float, labelled: int, improvement: list[float] | None,
          fired: list[str], metric: str) -> tuple[str, list[str]]:
    """The outcome and its reasons. IMPROVEMENT is the interval of candidate minus champion in the metric's
    direction (positive: better), None without enough labels; FIRED holds the sentences of the guards that fired.

    rollback when a guard fired, or when the interval's upper end is below -margin (worse beyond the margin);
    promote when min_labelled labelled records put the interval's lower end at margin or above, after
    min_hours; otherwise, after deadline_hours, on_deadline; else wait."""
    if fired:
        return "rollback", fired
    enough = improvement is not None and labelled >= policy.min_labelled
    shown = "" if improvement is None else f"[{improvement[0]:+.4f}, {improvement[1]:+.4f}]"
    level = f"{policy.confidence:.0%}"
    if enough and improvement[1] < -policy.margin:
        return "rollback", [f"The candidate's {metric} is worse than the champion's beyond the margin "
                            f"{policy.margin}: the {level} interval of its improvement is {shown} over {labelled} "
                            "labelled records."]
    better = enough and improvement[0] >= policy.margin
    if better and hours >= policy.min_hours:
        return "promote", [f"The candidate's {metric} is better than the champion's by at least the margin "
                           f"{policy.margin}: the {level} interval of its improvement is {shown} over {labelled} "
                           f"labelled records, after {hours:.1f} h."]
    if better:
        waiting = [f"The candidate is better ({metric} improvement {shown}), but the rollout has run {hours:.1f} h "
                   f"of the {policy.min_hours} h (min_hours) it needs before a promotion."]
    elif enough:
        waiting = [f"The evidence is inconclusive: the {level} interval of the {metric} improvement {shown} over "
                   f"{labelled} labelled records spans the margin {policy.margin}."]
    else:
        waiting = [f"{labelled} labelled record(s) of the {policy.min_labelled} (min_labelled) a comparison of "
                   f"{metric} needs, in both classes or values."]
    if hours >= policy.deadline_hours:
        outcome = {"rollback": "rollback", "promote": "promote", "keep": "wait"}[policy.on_deadline]
        return outcome, waiting + [f"The deadline of {policy.deadline_hours} h has passed ({hours:.1f} h): "
                                   f"on_deadline is {policy.on_deadline}."]
    return "wait", waiting


def decide(params: Params, root: Path = Path("."), now: datetime | None = None) -> RolloutDecision:
    """Judge the running rollout on the inference log's records from its start to NOW (default: now, UTC),
    write the evidence, apply the outcome and emit its event; the decision record.
    Without a running rollout: RegistryError."""
    from driftline.serving.log import log_url, read_window

    registry = Registry(root / params.registry.dir)
    state = registry.rollout
    if state is None:
        raise RegistryError("no rollout is running: nothing to decide (`driftline rollout start VERSION` starts one)")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    started = datetime.fromisoformat(state["started"]).astimezone(timezone.utc)
    window = read_window(log_url(params.serve.log_url, root), params.schema, started, now, arms=True)
    if window.empty:  # no feature columns in a window without rows
        window = window.reindex(columns=[*params.schema.features, *window.columns])
    arms = {name: load_arm(registry, state[key], window, name)
            for name, key in (("champion", "champion"), ("candidate", "version"))}
    policy = params.registry.rollout.decide
    paired = state["mode"] == "shadow"
    comparison, labelled = realised(arms["champion"], arms["candidate"], paired, policy)
    guards = {"prediction_drift": prediction_drift(params, arms["champion"], arms["candidate"]),
              "fairness": fairness_gaps(params, arms)}
    hours = (now - started).total_seconds() / 3600
    metric = PRIMARY[arms["champion"].predictor.task.kind]
    outcome, reasons = outcome_of(policy, hours, labelled, comparison and comparison["improvement"],
                             guard_reasons(guards), metric)
    path = registry.dir / DECISIONS_DIR / state["version"] / f"{stamp(RUN_STAMP, now)}.json"
    model = params.package.model_name
    record = RolloutDecision(
        time=iso_seconds(now), version=state["version"], champion=state["champion"],
        mode=state["mode"], canary_share=state.get("canary_share"), started=state["started"],
        window=Window(start=started.isoformat(), end=now.isoformat()), hours=round(hours, 3),
        outcome=outcome, reasons=reasons, moved=outcome != "wait", metric=metric,
        records=Records(champion=len(arms["champion"].rows), candidate=len(arms["candidate"].rows),
                        paired=int(arms["champion"].rows["record_id"].isin(arms["candidate"].rows["record_id"]).sum())
                        if paired else None, labelled=labelled),
        realised=comparison, estimated=estimated(arms), guards=guards, policy=policy.model_dump(),
        evidence=str(path.relative_to(registry.dir)),
        event=Event(event=f"{EVENT}.{outcome}", resource=f"driftline.model.{model}", emitted=prefect_api(),
                    error=None),
    )
    write_json(path, record.model_dump(mode="json"))  # before anything moves: the history's records point at it
    apply(registry, record)
    if record.event.emitted:
        record.event.error = emit(record, model)
        if record.event.error:
            write_json(path, record.model_dump(mode="json"))
    return record


def apply(registry: Registry, record: RolloutDecision) -> None:
    """What the outcome moves, in one registry transaction: promote moves the champion to the candidate and stops
    the rollout; rollback stops it and marks the candidate refused; wait moves nothing. A rollout that ended or
    changed while it was weighed is left to the next decision (RegistryError)."""
    outcome, reason = record.outcome, " ".join(record.reasons)
    extra = {"evidence": record.evidence, "decision": outcome}
    if outcome == "wait":
        return
    with registry.transaction():
        running = registry.rollout or {}
        if (running.get("version"), running.get("started")) != (record.version, record.started):
            raise RegistryError(f"the rollout of {record.version} ended or changed while it was weighed: "
                                f"nothing moved (its evidence: {record.evidence})")
        if outcome == "promote":
            registry.move(CHAMPION, record.version, f"rollout decision: {reason}", **extra)
            rollouts.stop(registry, f"promoted on evidence: {reason}", **extra)
        else:
            rollouts.stop(registry, f"rolled back: {reason}", **extra)
            registry.get(record.version)["refused"] = {"time": record.time, "reason": reason,
                                                       "decision": record.evidence}


def emit(record: RolloutDecision, model: str) -> str | None:
    """Send the decision's Prefect event; the error as text when it fails (a decision never fails for it)."""
    try:
        from prefect.events import emit_event

        emit_event(event=record.event.event,
                   resource={"prefect.resource.id": record.event.resource, "prefect.resource.name": model,
                             "driftline.model.version": str(record.version)},
                   payload=record.model_dump(include={"outcome", "reasons", "version", "champion", "evidence"}))
    except Exception as exc:  # noqa: BLE001 - the event is a notice; the decision is already made and recorded
        log.warning("rollout event failed: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return None


def figures(record: RolloutDecision) -> list[tuple[str, str, str, str]]:
    """The decision's figures as rows (figure, champion, candidate, difference or threshold), for the CLI's
    table and the markdown."""
    def shown(value) -> str:
        return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = [("records", shown(record.records.champion), shown(record.records.candidate),
             f"labelled {record.records.labelled}")]
    real = record.realised
    if real:
        interval = f"[{real.interval[0]:+.4f}, {real.interval[1]:+.4f}]" if real.interval else "-"
        rows.append((f"{real.metric} realised", shown(real.champion), shown(real.candidate),
                     f"{real.difference:+.4f} {interval} ({real.method})"))
    est = record.estimated
    rows.append((f"{est.metric} estimated ({est.method})", shown((est.champion or {}).get(est.metric)),
                 shown((est.candidate or {}).get(est.metric)), shown(est.difference)))
    drift, fair = record.guards.prediction_drift, record.guards.fairness
    rows.append((f"prediction drift ({drift.method})", "", shown(drift.score), f"max {drift.threshold}"))
    rows.append((f"largest {fair.gap}", shown(fair.champion and fair.champion.value),
                 shown(fair.candidate and fair.candidate.value), f"max increase {fair.threshold}"))
    return rows


def decision_markdown(record: RolloutDecision) -> str:
    """The decision as markdown: the outcome, its reasons and the figures."""
    lines = [f"**Rollout decision: {record.outcome}** for candidate {record.version} beside champion "
             f"{record.champion} ({record.mode}, {record.hours:.1f} h). Evidence: {record.evidence}",
             "", *[f"- {reason}" for reason in record.reasons],
             "", "| figure | champion | candidate | difference / limit |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in figures(record)]
    return "\n".join(lines)
