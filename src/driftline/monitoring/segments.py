"""Segments: each value of the columns of monitor.segments (`sex=Female`; a number's band, `age=[25.0, 35.0)`)
monitored on its own against the same segment of the reference sample: drift per column, prediction drift,
performance realised and estimated, and the fairness of the other sensitive attributes within it.

False alarms. A run makes one drift test per segment value and column, a hundred on Adult's sex and race, and
a small segment's distances are noisy: with the batch's rule alone, some segment would drift in every run. So
each test also has a p-value (its method's own for a p-value test such as ks or chisquare; for a distance such
as wasserstein or jensenshannon, that of KS for a number or chi-square for a category on the same rows), the
p-values of all the run's tests are adjusted together by Benjamini-Hochberg, and a column drifts in a segment
when Evidently's own decision says so (the method at monitor.threshold, as for the whole batch) and its
adjusted p-value is at most monitor.segment_fdr. The distance keeps a large segment's trivial shifts quiet,
the adjusted p-value a small segment's noise.

Speed. An Evidently report costs 0.3-1 s, one per segment value too many for a 15 s run; the tests call the
stattest functions that Evidently's DataDriftPreset runs per column (same NaN handling), on each segment's
rows, which tests/unit/test_segments.py checks against a report. For the same reason a segment's performance()
runs without its Evidently report (report=False).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType
from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp

from driftline.config import MonitorParams, Params
from driftline.core.data import sensitive_groups
from driftline.core.spread import subset
from driftline.core.task import Task
from driftline.errors import MonitorError
from driftline.monitoring.drift import PREDICTION, prediction_columns
from driftline.monitoring.fairness import fairness_drift
from driftline.monitoring.performance import CBPE, DLE, performance
from driftline.schema import Schema, SensitiveSpec

# Evidently's methods whose score is a p-value (drift below the threshold); the others are distances
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z", "fisher_exact", "g_test", "t_test", "anderson",
                             "cramer_von_mises", "mannw", "es", "empirical_mmd", "TVD"})


def segment_summary(frames: dict[str, pd.DataFrame], answers: dict[str, np.ndarray], predicted: np.ndarray,
                    y: np.ndarray, estimate: CBPE | DLE, threshold: float | None, reference_fairness: dict,
                    params: Params) -> dict:
    """The summary's `segments`: {"rule", "skipped": {segment: rows}, "values": {segment: figures}}.

    FRAMES are analyse()'s "reference" and "current" frames (typed features and the watched answer columns);
    ANSWERS, PREDICTED (what fairness_drift reads), Y and THRESHOLD are the batch's, as analyse() passes them to
    performance() and fairness_drift, and ESTIMATE its estimator. A segment value with fewer than
    monitor.min_segment_rows rows in the batch is only counted in `skipped`. Each other one gets the shape of
    a run's summary, so that the alert rules read it as they read the batch's: `rows`, `reference_rows`,
    `dataset_drift`, `drifted_share`, `drifted_columns`, `prediction_drift`, `scores` and `adjusted_p_values`
    (None where the reference sample has fewer than min_segment_rows of it), `performance` (performance()'s,
    with `reference` the estimate on the segment of the reference sample, so that a segment is compared with
    itself, not with the whole test split) and `fairness` (fairness_drift over the other sensitive attributes,
    beside the audit's tables of the whole test split).
    """
    cfg, schema = params.monitor, params.schema
    task = Task.of(schema)
    current, reference = frames["current"], frames["reference"]
    y = np.asarray(y, dtype=np.float64)
    values, skipped = {}, {}
    for segment in cfg.segments:
        bins = segment.bins or schema.sensitive.get(segment.column, SensitiveSpec()).bins
        now, then = _groups(current, segment.column, bins), _groups(reference, segment.column, bins)
        for value, rows in now.value_counts().sort_index().items():
            label = f"{segment.column}={value}"
            if rows < cfg.min_segment_rows:
                skipped[label] = int(rows)
                continue
            mask, past = (now == value).to_numpy(), (then == value).to_numpy()
            base = reference[past] if past.sum() >= cfg.min_segment_rows else None  # too few to compare with
            values[label] = {
                "column": segment.column, "value": str(value), "rows": int(rows), "reference_rows": int(past.sum()),
                "tests": None if base is None else _drift_tests(base, current[mask], schema, cfg, segment.column),
                "performance": _performance(task, subset(answers, mask), current[mask], y[mask], estimate, base,
                                            params, threshold),
                "fairness": _fairness(current[mask], np.asarray(predicted)[mask], y[mask], threshold, schema,
                                      segment.column, reference_fairness, cfg.min_labelled_rows),
            }
    _decide(values, cfg, prediction_columns(task))
    return {"rule": {"fdr": cfg.segment_fdr, "threshold": cfg.threshold, "min_segment_rows": cfg.min_segment_rows,
                     "method": {"numeric": cfg.num_method, "categorical": cfg.cat_method}},
            "skipped": skipped, "values": values}


def _groups(frame: pd.DataFrame, column: str, bins: list[float] | None) -> pd.Series:
    if column not in frame:
        raise MonitorError(f"monitor.segments: the batch has no column '{column}'")
    return sensitive_groups(frame[column], bins)  # bands and "missing" as schema.sensitive groups them


def column_drift(reference: pd.Series, current: pd.Series, kind: ColumnType, cfg: MonitorParams) -> dict | None:
    """{score, drifted, p_value} of one column: Evidently's method for KIND (monitor.num_method, cat_method) at
    monitor.threshold, as its DataDriftPreset runs it (infinities and NaN dropped), and the p-value the
    false-alarm rule adjusts (the module's). None where either side has no value."""
    reference, current = (s.replace([-np.inf, np.inf], np.nan).dropna() for s in (reference, current))
    if reference.empty or current.empty:
        return None
    method = cfg.num_method if kind == ColumnType.Numerical else cfg.cat_method
    result = get_stattest(reference, current, kind, method)(reference, current, kind, cfg.threshold)
    score = float(result.drift_score)
    p_value = score if method in P_VALUE_METHODS else companion_p_value(reference, current, kind)
    p_value = float(p_value) if math.isfinite(p_value) else 1.0  # a degenerate test is no evidence
    return {"score": round(score, 6), "drifted": bool(result.drifted), "p_value": p_value}


def companion_p_value(reference: pd.Series, current: pd.Series, kind: ColumnType) -> float:
    """The p-value of a distance's column: two-sample KS for a number (Evidently's ks), and for a category
    the chi-square test of homogeneity of the two samples' counts. Not Evidently's chisquare, a goodness of
    fit to the reference's shares: a category a small reference segment happens to lack has an expected
    count of 0 there, and a p-value of 0."""
    if kind == ColumnType.Numerical:
        return float(ks_2samp(reference.to_numpy(np.float64), current.to_numpy(np.float64)).pvalue)
    counts = pd.concat({"reference": reference.value_counts(), "current": current.value_counts()}, axis=1).fillna(0)
    if len(counts) < 2:
        return 1.0  # one category on both sides: nothing moved
    return float(chi2_contingency(counts.to_numpy().T, correction=False).pvalue)


def _drift_tests(reference: pd.DataFrame, current: pd.DataFrame, schema: Schema, cfg: MonitorParams,
                 own: str) -> dict[str, dict]:
    """column_drift of every feature and watched answer but the segment's OWN column (constant within it), on at
    most monitor.reference_rows rows of the CURRENT segment (a seeded sample)."""
    numeric, categorical = prediction_columns(Task.of(schema))
    kinds = {c: ColumnType.Numerical for c in schema.numeric_features + numeric}
    kinds |= {c: ColumnType.Categorical for c in schema.categorical_features + categorical}
    # a test's power is bounded by its smaller side, the reference segment: more current rows than the reference
    # sample's only cost time (a 100k-row batch's segments tested whole took seconds)
    if len(current) > cfg.reference_rows:
        current = current.sample(cfg.reference_rows, random_state=cfg.seed)
    found = {c: column_drift(reference[c], current[c], kind, cfg) for c, kind in kinds.items() if c != own}
    return {c: test for c, test in found.items() if test is not None}


def discoveries(p_values: list[float], fdr: float) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg over P_VALUES: their adjusted p-values and which are discoveries at rate FDR."""
    if not p_values:
        return np.array([]), np.array([], dtype=bool)
    adjusted = false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh")
    return adjusted, adjusted <= fdr


def _decide(values: dict[str, dict], cfg: MonitorParams, predictions: tuple[list[str], list[str]]) -> None:
    """Replace each segment's `tests` with its drift figures, decided by the module's false-alarm rule over the
    tests of every segment together."""
    tests = [(label, column, test) for label, segment in values.items()
             for column, test in (segment["tests"] or {}).items()]
    adjusted, found = discoveries([test["p_value"] for _, _, test in tests], cfg.segment_fdr)
    decided = {(label, column): (float(q), bool(hit and test["drifted"]))
               for (label, column, test), q, hit in zip(tests, adjusted, found)}
    for label, segment in values.items():
        tests = segment.pop("tests")
        segment.update(_drift_figures(label, tests, decided, cfg, predictions[0] + predictions[1]))


def _drift_figures(label: str, tests: dict | None, decided: dict, cfg: MonitorParams, answers: list[str]) -> dict:
    if tests is None:
        return dict.fromkeys(("dataset_drift", "drifted_share", "drifted_columns", "prediction_drift", "scores",
                              "adjusted_p_values"))
    drifted = sorted(c for c in tests if decided[(label, c)][1])
    share = len(drifted) / len(tests) if tests else 0.0
    return {"dataset_drift": bool(tests) and share >= cfg.drift_share,  # Evidently's drifted-share rule
            "drifted_share": share, "drifted_columns": drifted,
            "prediction_drift": any(c in answers for c in drifted),
            "scores": {c: test["score"] for c, test in tests.items()},
            "adjusted_p_values": {c: round(decided[(label, c)][0], 6) for c in tests}}


def _reference_answers(task: Task, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What an estimator reads of the reference frame's watched answers (drift.prediction_frame undone)."""
    if task.kind == "multiclass":
        return {"probabilities": frame[task.probability_columns].to_numpy(np.float64)}
    return {"probability" if task.kind == "binary" else "prediction": frame[PREDICTION].to_numpy(np.float64)}


def _performance(task: Task, answers: dict[str, np.ndarray], rows: pd.DataFrame, y: np.ndarray,
                 estimate: CBPE | DLE, reference: pd.DataFrame | None, params: Params,
                 threshold: float | None) -> dict:
    """performance() of a segment, REFERENCE's estimate as its reference, without its Evidently report (0.15-0.35 s
    a segment)."""
    expected = None if reference is None else estimate.estimate(_reference_answers(task, reference), reference)
    summary, _ = performance(task, answers, rows, y, estimate, expected, params.monitor.min_labelled_rows,
                             params.evaluate.calibration_bins, threshold, report=False)
    return summary


def _fairness(frame: pd.DataFrame, predicted: np.ndarray, y: np.ndarray, threshold: float | None, schema: Schema,
              own: str, reference_fairness: dict, min_labelled_rows: int) -> dict:
    """fairness_drift within a segment over the sensitive attributes the frame holds, but its OWN column."""
    sensitive = {name: spec for name, spec in schema.sensitive.items() if name != own and name in frame}
    if not sensitive:
        return {}
    return fairness_drift(frame, predicted, y, threshold, schema.model_copy(update={"sensitive": sensitive}),
                          reference_fairness, min_labelled_rows)
