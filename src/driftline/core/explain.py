"""SHAP attributions of the model's raw outputs, summed back to the raw columns: shared by the audit, the service
and monitoring.

What is explained is a raw output of the model (core.task): the logit (binary), each class's logit
(multiclass: a row's explanation is of its predicted class), or the target through its link (regression:
core.encoding.TargetScale), so that the attributions add up with the base value to the output exactly, as
they would not through a sigmoid, a softmax or an exp. The service's explanations rescale them linearly to
the answer's own terms (Explainer.explain_columns): the calibrated log-odds, or the prediction through its
link, unstandardised.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import shap
import torch
from shap.explainers._deep.deep_pytorch import linear_1d, nonlinear_1d, op_handler, passthrough
from torch import nn

from driftline.core.blend import Blend
from driftline.core.data import columns_of
from driftline.core.encoding import Transform
from driftline.core.model import TabularNet
from driftline.core.trees import matrix
from driftline.errors import AuditError

HOOKED = threading.Lock()  # held while shap's or deeplift's hooks are on a backbone
CHUNK_ROWS = 10  # rows explained per pass: more ran no faster on 2 cores (20: 1.0 s, 40: 1.05 s against 0.86 s)
ADDITIVITY_TOLERANCE = 1e-3  # largest |attributions + base value - output| accepted
EXPLAINED = {  # what each task's attributions add up to, as the audit's shap_summary.json says it
    "binary": "logit of the positive class",
    "multiclass": "logit of each row's predicted class",
    "regression": "prediction through the target's link, standardised: (link(target) - mean) / std, or "
                  "log(prediction) - mean under a Poisson link (transform.json's target)",
}


def column_attributions(blend: Blend, background: pd.DataFrame, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """SHAP values of every raw output of the blend, (rows, raw columns, outputs), and the base values they add
    up from, (outputs,): each member's (network_attributions, Trees.contributions) weighted as the blend
    weighs its outputs."""
    return _attributions(blend, background, rows, None)


def top_attributions(blend: Blend, background: pd.DataFrame,
                     rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """column_attributions of each row's largest raw output alone (explained_output), at the cost of one
    output: the attributions (rows, raw columns), the base value each adds up from (rows,), and the output."""
    output = explained_output(blend.raw_frame(rows))
    values, base = _attributions(blend, background, rows, output[:, None])
    return values[:, :, 0], base[output], output


def _attributions(blend: Blend, background: pd.DataFrame, rows: pd.DataFrame,
                  chosen: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Attributions (rows, raw columns, k) of output CHOSEN[row, k] (every output where CHOSEN is None) and
    the base values (outputs,)."""
    outputs = (blend.net or blend.trees).outputs
    if chosen is None:
        chosen = np.broadcast_to(np.arange(outputs), (len(rows), outputs))
    values, base = 0.0, 0.0
    if blend.net is not None:
        part, offset = network_attributions(blend.net, blend.transform, background, rows, chosen)
        values, base = values + blend.weights["deep"] * part, base + blend.weights["deep"] * offset
    if blend.trees is not None:
        part, offset = blend.trees.contributions(matrix(blend.transform, columns_of(rows, blend.transform.columns)))
        part = np.take_along_axis(part, chosen[:, None, :], axis=2)
        values, base = values + blend.weights["boost"] * part, base + blend.weights["boost"] * offset
    return values, np.asarray(base, dtype=np.float64).reshape(-1)


def network_attributions(model: TabularNet, transform: Transform, background: pd.DataFrame, rows: pd.DataFrame,
                         chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeepExplainer SHAP values of the network's output CHOSEN[row, k], (rows, raw columns, k), and its base
    values, (outputs,).

    The explainer works on the members' inputs (model.backbone), after the periodic embeddings: it would
    pass plain gradients through their sin and cos, which breaks additivity (shap issues #3918, #1479).
    Each input's attribution goes to the raw column it came from, summed over members.
    """
    with HOOKED:  # shap hooks the backbone to read its inputs: two explainers built at once take each other's
        explainer = shap.DeepExplainer((model, model.backbone), torch.from_numpy(transform(background)))
    values = deeplift(explainer, torch.from_numpy(transform(rows)), torch.from_numpy(np.ascontiguousarray(chosen)))
    # (rows, members, inputs, outputs); outputs first keeps each sum over a column's inputs contiguous, as it
    # was when models had one output (the same floats, bit for bit)
    values = values.reshape(len(rows), model.members, -1, chosen.shape[1]).sum(axis=1)
    values = np.ascontiguousarray(values.transpose(0, 2, 1))
    owner = np.zeros(transform.width, dtype=int)
    for index, (start, end) in enumerate(transform.slices.values()):
        owner[start:end] = index
    source = owner[model.sources]
    columns = np.stack([values[:, :, source == index].sum(axis=2) for index in range(len(transform.columns))],
                       axis=1)
    return columns, np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)


def deeplift(explainer: shap.DeepExplainer, x: torch.Tensor, chosen: torch.Tensor) -> np.ndarray:
    """What shap's DeepExplainer.shap_values gives for an interim layer (its inputs' attributions, stacked
    (rows, *layer input, outputs)) of output CHOSEN[row, k] for each k, CHUNK_ROWS rows per pass.

    EXPLAINER is shap's, built on (model, model.backbone) of a TabularNet. shap runs one forward and backward
    pass per row and output over a batch of two halves, the row tiled over the background and the background,
    rescales each nonlinear module's gradient by (y_row - y_background) / (x_row - x_background) of the two
    halves (nonlinear_1d), and takes the background half's gradient. That half's forward is the same for every
    row, and its rescaled gradient is the row half's (the same multipliers through the same linear layers).
    So the background goes through the backbone once per call, its nonlinear modules' inputs and outputs
    kept; each pass forwards only CHUNK_ROWS rows tiled over the background, once for all its outputs, and
    backward hooks rescale against the kept activations. The one difference: where |x_row - x_background| <
    1e-6 the plain gradient passed is the row's, not the background's. Tests check it against shap_values.

    300 rows against a background of 100, the packaged champion (mini, 6 members, periodic and category
    embeddings), median of 3: 1.7-1.9 s with one thread and 0.9-1.1 s with two, where the two halves tiled
    CHUNK_ROWS rows per pass took 3.8-4.0 s and 2.3-2.8 s, and shap_values 4.9 s and 4.1 s.
    """
    inner, passes = explainer.explainer, []
    model, backbone = inner.model, inner.layer
    rescaled = _rescaled_modules(backbone)
    with torch.no_grad():
        reference, inputs = model.member_inputs(inner.data[0]), model.member_inputs(x)
    tiles = len(reference)
    kept, multipliers, owner = {}, {}, threading.get_ident()

    def keep(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if threading.get_ident() == owner:  # not a prediction served meanwhile
            kept[module] = args[0].detach(), output.detach()

    def rescale_forward(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if threading.get_ident() != owner:
            return
        at_x, at_y = args[0].detach(), output.detach()
        at_background, out_background = kept[module]
        delta_in = (at_x.view(-1, *at_background.shape) - at_background).view_as(at_x)
        delta_out = (at_y.view(-1, *out_background.shape) - out_background).view_as(at_y)
        multipliers[module] = delta_in.abs() < 1e-6, delta_out / delta_in

    def rescale_backward(module: nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
        plain, ratio = multipliers[module]
        return torch.where(plain, grad_input[0], grad_output[0] * ratio), *grad_input[1:]

    # one explanation at a time per process: every call's backward hooks would fire in another's passes
    with HOOKED:
        handles = [module.register_forward_hook(keep) for module in rescaled]
        try:
            with torch.no_grad():
                backbone(reference)
            for handle in handles:
                handle.remove()
            handles = [module.register_forward_hook(rescale_forward) for module in rescaled]
            handles += [module.register_full_backward_hook(rescale_backward) for module in rescaled]
            for start in range(0, len(x), CHUNK_ROWS):
                rows, outputs = inputs[start : start + CHUNK_ROWS], chosen[start : start + CHUNK_ROWS]
                tiled = rows.repeat_interleave(tiles, dim=0).requires_grad_()
                answer = backbone(tiled).mean(dim=1)  # TabularNet.forward's mean; its offset has no gradient
                delta = rows[:, None] - reference
                per_output = []
                for k in range(outputs.shape[1]):
                    selected = answer.gather(1, outputs[:, k].repeat_interleave(tiles)[:, None])
                    gradient = torch.autograd.grad(selected.sum(), tiled, retain_graph=k + 1 < outputs.shape[1])[0]
                    per_output.append((gradient.view_as(delta) * delta).mean(dim=1))
                passes.append(torch.stack(per_output, dim=-1).numpy())
        finally:
            for handle in handles:
                handle.remove()
    return np.concatenate(passes).astype(np.float64)


# tabm's affine layers, which shap does not know and passes plain gradients through: right for a linear map
SHAP_UNKNOWN_LINEAR = {"LinearEnsemble", "ElementwiseAffine"}


def _rescaled_modules(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's leaf modules whose gradient DeepLIFT rescales (shap's nonlinear_1d: ReLU and the like),
    after checking that the others are ones it passes plain gradients through."""
    rescaled = []
    for module in backbone.modules():
        if next(module.children(), None) is not None:
            continue
        name = type(module).__name__
        handler = op_handler.get(name)
        if handler is nonlinear_1d:
            rescaled.append(module)
        elif handler not in (passthrough, linear_1d) and name not in SHAP_UNKNOWN_LINEAR:
            raise AuditError(f"explain.deeplift does not explain a backbone with {name} layers: it rescales "
                             "shap's elementwise nonlinear modules (nonlinear_1d) and passes linear ones through")
    return rescaled


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
        return column_attributions(self.predictor.blend, self.background, rows)

    def explain_columns(self, columns: dict[str, list]) -> list[dict]:
        """For each record (raw columns, as the service takes them) the answer, the output explained, its base
        value and the attributions per raw column, which add up with the base value to that output within
        ADDITIVITY_TOLERANCE. A classifier's output is the answer's own logit: the blend's raw output over the
        decision's temperature, the log-odds of the probability shown.

        - binary: probability, logit, base_value, attributions
        - multiclass: label (the predicted class), probability (its), logit (its), base_value, attributions
        - regression: prediction (target units), link, output, base_value, attributions: the output is the
          prediction through its link (TargetScale.linked: the prediction itself, or its log), unstandardised
        """
        predictor = self.predictor
        rows = predictor.typed_frame(columns)
        values, base, chosen = top_attributions(predictor.blend, self.background, rows)
        raw = predictor.blend.raw_frame(rows)
        answers = predictor.task.decode(raw, predictor.decision, predictor.transform.target)
        features, kind = predictor.schema.features, predictor.task.kind
        target = predictor.transform.target
        # raw outputs to the output explained: std * z + mean (regression), z / temperature (classification)
        scale, shift = (target.std, target.mean) if kind == "regression" else (
            1.0 / predictor.task.temperature(predictor.decision), 0.0)
        explained = []
        for n, k in enumerate(chosen):
            if kind == "regression":
                answer = {"prediction": float(answers["prediction"][n]), "link": target.link,
                          "output": float(raw[n, k] * scale + shift)}
            else:
                label = {"label": str(answers["label"][n])} if kind == "multiclass" else {}
                answer = label | {"probability": float(answers["probability"][n]), "logit": float(raw[n, k] * scale)}
            explained.append(answer | {"base_value": float(base[n] * scale + shift),
                                       "attributions": dict(zip(features, (values[n] * scale).tolist()))})
        return explained
