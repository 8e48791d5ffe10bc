"""The promotion gate: floors, fairness bounds, and changes against the baseline, the dummy and the champion,
each in its metric's direction (TFX-style).

Every check is listed in the blessing with its value, its threshold and whether it passed; the
candidate is blessed only when all pass. The first model has no champion to meet.
"""

from __future__ import annotations

import operator

from driftline.config import ChangeThreshold, Floor, GateParams
from driftline.core.fairness import gaps as audit_gaps
from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY
from driftline.core.task import Task
from driftline.errors import ConfigError
from driftline.release.blessing import Blessing, Check

PARITY, ODDS, BASE_RATE = "demographic_parity_difference", "equalized_odds_difference", "base_rate_difference"
BINARY_FAIRNESS = ("max_parity_amplification", "max_equalized_odds_difference")  # binary's own fairness bounds
REFERENCES = ("baseline", "dummy", "champion")


def check(name: str, kind: str, value: float | None, threshold: str, passed: bool, **extra) -> Check:
    return Check(name=name, kind=kind, value=value, threshold=threshold, passed=bool(passed), **extra)


def require_task(params: GateParams, task: Task) -> None:
    """Refuse a gate that TASK cannot be judged by: a metric it does not report, a floor on the wrong side of
    its metric's direction, fairness bounds of another task. The ConfigError names each key."""
    kind = task.kind
    reported = HIGHER_IS_BETTER[kind]
    problems = []
    for i, floor in enumerate(params.floors):
        if floor.metric not in reported:
            problems.append(f"gate.floors[{i}]: {kind} tasks do not report '{floor.metric}'")
        elif (floor.min is not None) != reported[floor.metric]:
            better, wanted = ("higher", "min") if reported[floor.metric] else ("lower", "max")
            problems.append(f"gate.floors[{i}]: '{floor.metric}' is better {better}, so its bound is a {wanted}")
    for reference in REFERENCES:
        for i, bound in enumerate(getattr(params, reference)):
            if bound.metric not in reported:
                problems.append(f"gate.{reference}[{i}]: {kind} tasks do not report '{bound.metric}'")
    if kind == "binary":
        allowed = []
        problems += [f"gate.max_gaps.{gap}: binary tasks bound fairness with {' and '.join(BINARY_FAIRNESS)}"
                     for gap in params.max_gaps]
    else:
        allowed = list(audit_gaps(task))
        problems += [f"gate.{key}: for binary tasks only (set it to null)" for key in BINARY_FAIRNESS
                     if getattr(params, key) is not None]
        problems += [f"gate.max_gaps.{gap}: the audit reports no '{gap}' for {kind} tasks" for gap in params.max_gaps
                     if gap not in allowed]
    if problems:
        names = ", ".join(reported) + (f"; its fairness gaps: {', '.join(allowed)}" if allowed else "")
        raise ConfigError(f"the gate does not fit the task '{kind}' (its metrics: {names}):\n  "
                          + "\n  ".join(problems))


def metric(metrics: dict, name: str, model: str) -> float:
    """A model's value of metric NAME; a ConfigError where it has none (MAPE needs positive targets, only the
    model's interval has a coverage)."""
    if name not in metrics:
        raise ConfigError(f"the gate checks '{name}', which the {model}'s evaluation does not report (it reports "
                          f"{', '.join(metrics)}): remove the check from params.yaml's gate")
    return metrics[name]


def floor(metrics: dict, bound: Floor) -> Check:
    """One absolute bound on the candidate's metric."""
    value = metric(metrics, bound.metric, "candidate")
    if bound.min is not None:
        return check(bound.metric, "floor", value, f">= {bound.min}", value >= bound.min)
    return check(bound.metric, "floor", value, f"<= {bound.max}", value <= bound.max)


def attributes(gaps: dict, gap: str) -> list[str]:
    """The sensitive attributes that the audit's flat `<attribute>_<gap>` metrics hold GAP for."""
    return sorted(k[: -len(gap) - 1] for k in gaps if k.endswith(f"_{gap}"))


def fairness(gaps: dict, params: GateParams, task: str) -> list[Check]:
    """Per sensitive attribute, the bounds that are set: binary parity amplification and equalized odds, or the
    multiclass and regression ceilings of max_gaps."""
    checks = []
    amplification, odds_bound = params.max_parity_amplification, params.max_equalized_odds_difference
    for attribute in attributes(gaps, PARITY) if task == "binary" else []:
        if amplification is not None:
            parity, base = gaps[f"{attribute}_{PARITY}"], gaps[f"{attribute}_{BASE_RATE}"]
            bound = round(base + amplification, 6)
            checks.append(check(f"{attribute} {PARITY}", "fairness", parity,
                                f"<= {bound} (labels' own gap {base:.4f} + {amplification})", parity <= bound))
        if odds_bound is not None:
            odds = gaps[f"{attribute}_{ODDS}"]
            checks.append(check(f"{attribute} {ODDS}", "fairness", odds, f"<= {odds_bound}", odds <= odds_bound))
    for gap, bound in params.max_gaps.items():
        for attribute in attributes(gaps, gap):
            value = gaps[f"{attribute}_{gap}"]
            checks.append(check(f"{attribute} {gap}", "fairness", value, f"<= {bound}", value <= bound))
    return checks


def change(candidate: dict, reference: dict, bound: ChangeThreshold, kind: str, higher_is_better: bool,
           interval: list[float] | None = None) -> Check:
    """One change check of a metric against a reference model's value of it, in the metric's direction.

    With INTERVAL (the 95% paired-bootstrap interval of candidate - reference on the test split), an absolute
    bound fails only where the whole interval lies on the wrong side of it: a difference the test split cannot
    tell from noise neither refuses a model on a small table nor lets a worse one through on a large one.
    """
    value, base = metric(candidate, bound.metric, "candidate"), metric(reference, bound.metric, kind)
    sign = 1 if higher_is_better else -1
    beats = operator.gt if bound.strict else operator.ge
    relation = (">" if sign > 0 else "<") + ("" if bound.strict else "=")
    passed, terms = True, []
    if bound.absolute is not None and interval is not None:
        passed &= beats(max(sign * interval[0], sign * interval[1]), sign * bound.absolute)
        terms.append(f"candidate - {kind} {relation} {bound.absolute} within its 95% paired interval "
                     f"[{interval[0]:.4f}, {interval[1]:.4f}]")
    elif bound.absolute is not None:
        passed &= beats(sign * (value - base), sign * bound.absolute)
        terms.append(f"candidate - {kind} {relation} {bound.absolute}")
    if bound.relative is not None:
        passed &= beats(sign * (value / base if base else float("inf")), sign * bound.relative)
        terms.append(f"candidate / {kind} {relation} {bound.relative}")
    return check(f"{bound.metric} vs {kind}", kind, value, " and ".join(terms), passed, reference=base,
                 change=round(value - base, 6), **({"interval": interval} if interval is not None else {}))


def blessing(task: Task, metrics: dict[str, dict | None], gaps: dict, params: GateParams,
             intervals: dict[str, list] | None = None) -> Blessing:
    """All checks and the verdict. METRICS: the candidate's test metrics and each reference's by name
    ("baseline", "dummy"; "champion": its metrics on this run's test split, None or absent when there is none).
    INTERVALS (card.bootstrap_intervals of the candidate first, then the others): the baseline's checks of the
    primary metric use the interval of their difference."""
    require_task(params, task)
    direction = HIGHER_IS_BETTER[task.kind]
    candidate = metrics["candidate"]
    checks = [floor(candidate, bound) for bound in params.floors] + fairness(gaps, params, task.kind)
    for reference in REFERENCES:
        if metrics.get(reference) is not None:
            checks += [change(candidate, metrics[reference], bound, reference, direction[bound.metric],
                              gain_interval(intervals, reference) if reference == "baseline"
                              and bound.metric == PRIMARY[task.kind] else None)
                       for bound in getattr(params, reference)]
    return Blessing.of(checks)


def gain_interval(intervals: dict[str, list] | None, reference: str) -> list[float] | None:
    """The interval of candidate - REFERENCE, from bootstrap_intervals' REFERENCE - candidate."""
    found = (intervals or {}).get(f"{reference} - candidate")
    return None if found is None else [-found[1], -found[0]]


def fairness_policy(params: GateParams, task: str) -> str:
    """The fairness bounds in words, for the model card."""
    if task == "binary":
        bounds = [f"{name} <= {value}" for name, value in (
            ("parity amplification", params.max_parity_amplification),
            ("equalized odds", params.max_equalized_odds_difference)) if value is not None]
    else:
        bounds = [f"{gap} <= {value}" for gap, value in params.max_gaps.items()]
    return f"gated on {' and '.join(bounds)}" if bounds else "not gated: the audit reports the gaps"
