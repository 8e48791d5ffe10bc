"""SHAP attributions of the model's raw outputs, summed back to the raw columns: shared by the audit, the service
and monitoring.

What is explained is a raw output of the network (core.task): the logit (binary), each class's logit
(multiclass: a row's explanation is of its predicted class), or the prediction in the standardised target's
units (regression: (target - mean) / std, of log(target) where the target was logged), so that the
attributions add up with the base value to the output exactly, as they would not through a sigmoid, a
softmax or the target's scale.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import shap
import torch

from driftline.core.encoding import Transform
from driftline.core.model import TabularNet
from driftline.core.predictor import raw_outputs

ADDITIVITY_TOLERANCE = 1e-3  # largest |attributions + base value - output| accepted
EXPLAINED = {  # what each task's attributions add up to, as the audit's shap_summary.json says it
    "binary": "logit of the positive class",
    "multiclass": "logit of each row's predicted class",
    "regression": "prediction in standardised units: (target - mean) / std, of log(target) where the target is "
                  "logged (transform.json's target)",
}


def column_attributions(model: TabularNet, transform: Transform, background: pd.DataFrame,
                        rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """DeepExplainer SHAP values of every raw output, (rows, raw columns, outputs), and the base values they
    add up from, (outputs,).

    The explainer works on the members' inputs (model.backbone), after the periodic embeddings: it would
    pass plain gradients through their sin and cos, which breaks additivity (shap issues #3918, #1479).
    Each input's attribution goes to the raw column it came from, summed over members.
    """
    values, base, _ = _attributions(model, transform, background, rows, ranked=False)
    return values, base


def top_attributions(model: TabularNet, transform: Transform, background: pd.DataFrame,
                     rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """column_attributions of each row's largest raw output alone (explained_output), at the cost of one
    output: the attributions (rows, raw columns), the base value each adds up from (rows,), and the output."""
    values, base, output = _attributions(model, transform, background, rows, ranked=True)
    return values[:, :, 0], base[output], output


def _attributions(model: TabularNet, transform: Transform, background: pd.DataFrame, rows: pd.DataFrame,
                  ranked: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unrecognized nn.Module")  # tabm's linear layers: linear
        explainer = shap.DeepExplainer((model, model.backbone), torch.from_numpy(transform(background)))
        # shap ranks a row's outputs by the model's own (its logits), the largest first
        values = explainer.shap_values(torch.from_numpy(transform(rows)), check_additivity=False,
                                       ranked_outputs=1 if ranked else None)
    output = None
    if ranked:
        values, ranks = values
        output = np.asarray(ranks).reshape(len(rows))
    # shap stacks the outputs last: (rows, members, inputs, outputs); outputs first keeps each sum over a
    # column's inputs contiguous, as it was when models had one output (the same floats, bit for bit)
    values = np.asarray(values).reshape(len(rows), model.members, -1, 1 if ranked else model.outputs).sum(axis=1)
    values = np.ascontiguousarray(values.transpose(0, 2, 1))
    owner = np.zeros(transform.width, dtype=int)
    for index, (start, end) in enumerate(transform.slices.values()):
        owner[start:end] = index
    source = owner[model.sources]
    columns = np.stack([values[:, :, source == index].sum(axis=2) for index in range(len(transform.columns))],
                       axis=1)
    return columns, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1), output


def additivity_error(values: np.ndarray, base: np.ndarray, raw: np.ndarray) -> float:
    """Largest gap, over rows and outputs, between the attributions (rows, columns, outputs) plus the base
    value and the raw output (rows, outputs) they explain."""
    return float(max(np.abs(values[:, :, k].sum(axis=1) + base[k] - raw[:, k]).max() for k in range(raw.shape[1])))


def explained_output(raw: np.ndarray) -> np.ndarray:
    """The output each row's explanation is of: its largest, that is the only one, or a multiclass model's
    predicted class (the largest logit: the temperature keeps the order)."""
    return raw.argmax(axis=1)


def importance(values: np.ndarray) -> np.ndarray:
    """Each raw column's mean |SHAP| over the outputs (a multiclass model's classes) and the rows: the audit's
    importance, and what attribution drift ranks."""
    return np.abs(values).mean(axis=2).mean(axis=0)


class Explainer:
    """Local explanations of a packaged model, against the background rows stored with it (`background.json`:
    a sample of the training split, raw values): the service's POST /explain, `driftline explain` and
    monitoring's attribution drift."""

    def __init__(self, predictor, background: pd.DataFrame):
        self.predictor, self.background = predictor, background

    @classmethod
    def load(cls, predictor, model_dir: str | Path) -> Explainer:
        rows = json.loads(Path(model_dir, "background.json").read_text())
        features = predictor.schema.features
        return cls(predictor, predictor.typed_frame({name: [r[name] for r in rows] for name in features}))

    def attributions(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """column_attributions of typed ROWS against the background rows."""
        return column_attributions(self.predictor.model, self.predictor.transform, self.background, rows)

    def explain_columns(self, columns: dict[str, list]) -> list[dict]:
        """For each record (raw columns, as the service takes them) the answer, the raw output explained, its
        base value and the attributions per raw column, which add up with the base value to that output
        within ADDITIVITY_TOLERANCE:

        - binary: probability, logit, base_value, attributions
        - multiclass: label (the predicted class), probability (its), logit (its), base_value, attributions
        - regression: prediction (target units), standardised_prediction, base_value, attributions
        """
        predictor = self.predictor
        rows = predictor.typed_frame(columns)
        values, base, chosen = top_attributions(predictor.model, predictor.transform, self.background, rows)
        raw = raw_outputs(predictor.model, predictor.transform(rows))
        answers = predictor.task.decode(raw, predictor.decision, predictor.transform.target)
        features, kind = predictor.schema.features, predictor.task.kind
        explained = []
        for n, k in enumerate(chosen):
            if kind == "regression":
                answer = {"prediction": float(answers["prediction"][n]), "standardised_prediction": float(raw[n, k])}
            else:
                label = {"label": str(answers["label"][n])} if kind == "multiclass" else {}
                answer = label | {"probability": float(answers["probability"][n]), "logit": float(raw[n, k])}
            explained.append(answer | {"base_value": float(base[n]),
                                       "attributions": dict(zip(features, values[n].tolist()))})
        return explained
