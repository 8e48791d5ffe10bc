"""Attribution drift: mean |SHAP| per raw column of a window, ranked against the audit's (Clarify's nDCG)."""

from __future__ import annotations

import math

import pandas as pd

from driftline.core.explain import Explainer, importance
from driftline.core.predictor import Predictor
from driftline.errors import MonitorError


def shares(mean_abs: dict[str, float]) -> dict[str, float]:
    """Each column's share of the total attribution (the shares sum to 1)."""
    total = sum(mean_abs.values())
    if total <= 0:
        raise MonitorError("every attribution is zero: the model ignores its inputs")
    return {name: value / total for name, value in mean_abs.items()}


def ndcg(current: dict[str, float], reference: dict[str, float]) -> float:
    """SageMaker Clarify's feature-attribution drift: nDCG of the current ranking, scored by reference importance.

    Features are ranked by current mean |SHAP|; the feature at position i (from 1) earns its reference
    importance / log2(i + 1); the ideal is the reference's own ranking. 1.0 means the same ranking, and
    a swap costs more the more important the swapped features were.
    """
    def dcg(order: list[str]) -> float:
        return sum(reference[name] / math.log2(i + 1) for i, name in enumerate(order, start=1))

    ideal = dcg(sorted(reference, key=lambda name: -reference[name]))
    if ideal <= 0:
        raise MonitorError("the reference attributions are all zero")
    return dcg(sorted(reference, key=lambda name: -current.get(name, 0.0))) / ideal


def attribution_drift(predictor: Predictor, background: pd.DataFrame, rows: pd.DataFrame,
                      reference_attribution: dict[str, float], max_rows: int, seed: int) -> dict:
    """Explain at most MAX_ROWS of ROWS (a seeded sample) as the audit does, against BACKGROUND rows.

    Both frames are typed (data.coerce). Returns the rows explained, each raw column's mean |SHAP| (over the
    rows, and a multiclass model's classes: the audit's importance) and share, the reference's shares, and
    the nDCG of the current ranking against REFERENCE_ATTRIBUTION.
    """
    sample = rows.sample(min(max_rows, len(rows)), random_state=seed)
    values, _ = Explainer(predictor, background).attributions(sample)
    mean_abs = dict(zip(predictor.transform.columns, importance(values).tolist()))
    return {
        "rows": len(sample),
        "shares": shares(mean_abs),
        "reference_shares": shares(reference_attribution),
        "ndcg": ndcg(mean_abs, reference_attribution),
        "mean_abs": mean_abs,
    }
