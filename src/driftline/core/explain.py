"""SHAP attributions of the model's logit, summed back to the raw columns: shared by the audit and the service."""

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

ADDITIVITY_TOLERANCE = 1e-3  # largest |attributions + base value - logit| accepted


def column_attributions(model: TabularNet, transform: Transform, background: pd.DataFrame,
                        rows: pd.DataFrame) -> tuple[np.ndarray, float]:
    """DeepExplainer SHAP values of the logit, (rows, raw columns), and the base value they add up from.

    The explainer works on the members' inputs (model.backbone), after the periodic embeddings: it would
    pass plain gradients through their sin and cos, which breaks additivity (shap issues #3918, #1479).
    Each input's attribution goes to the raw column it came from, summed over members.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unrecognized nn.Module")  # tabm's linear layers: linear
        explainer = shap.DeepExplainer((model, model.backbone), torch.from_numpy(transform(background)))
        values = explainer.shap_values(torch.from_numpy(transform(rows)), check_additivity=False)
    values = np.asarray(values).reshape(len(rows), model.members, -1).sum(axis=1)
    owner = np.zeros(transform.width, dtype=int)
    for index, (start, end) in enumerate(transform.slices.values()):
        owner[start:end] = index
    source = owner[model.sources]
    columns = np.column_stack([values[:, source == index].sum(axis=1) for index in range(len(transform.columns))])
    return columns, float(np.asarray(explainer.expected_value).reshape(-1)[0])


@torch.inference_mode()
def logits(model: TabularNet, transform: Transform, rows: pd.DataFrame) -> np.ndarray:
    """The model's logit (what the attributions add up to) for each row of a typed frame."""
    return model(torch.from_numpy(transform(rows))).squeeze(1).double().numpy()


def additivity_error(model: TabularNet, transform: Transform, rows: pd.DataFrame, values: np.ndarray,
                     base: float) -> float:
    """Largest gap between a row's attributions plus the base value and its logit."""
    return float(np.abs(values.sum(axis=1) + base - logits(model, transform, rows)).max())


class Explainer:
    """Local explanations of a packaged model, against the background rows stored with it (`background.json`:
    a sample of the training split, raw values): the service's POST /explain and `driftline explain`."""

    def __init__(self, predictor, background: pd.DataFrame):
        self.predictor, self.background = predictor, background

    @classmethod
    def load(cls, predictor, model_dir: str | Path) -> Explainer:
        rows = json.loads(Path(model_dir, "background.json").read_text())
        features = predictor.schema.features
        return cls(predictor, predictor.typed_frame({name: [r[name] for r in rows] for name in features}))

    def explain_columns(self, columns: dict[str, list]) -> list[dict]:
        """For each record (raw columns, as the service takes them): probability, logit, base value and the
        attributions per raw column, which add up with the base value to the logit within ADDITIVITY_TOLERANCE."""
        predictor = self.predictor
        rows = predictor.typed_frame(columns)
        values, base = column_attributions(predictor.model, predictor.transform, self.background, rows)
        features = predictor.schema.features
        return [{"probability": float(1 / (1 + np.exp(-logit))), "logit": float(logit), "base_value": base,
                 "attributions": dict(zip(features, row.tolist()))}
                for logit, row in zip(logits(predictor.model, predictor.transform, rows), values)]
