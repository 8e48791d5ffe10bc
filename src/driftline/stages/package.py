"""package stage: register the model in the BentoML store and build a bento around the service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bentoml

from driftline.config import Params
from driftline.core.artifacts import write_json
from driftline.core.data import labels
from driftline.core.encoding import Transform
from driftline.core.metrics import classification_metrics
from driftline.core.model import TabularNet
from driftline.core.predictor import Predictor, probabilities
from driftline.core.splits import load_split
from driftline.monitoring.performance import fit_calibration
from driftline.registry.bento import build_bento
from driftline.registry.infra import records


def monitoring_reference(params: Params, splits_dir: Path, model_dir: Path, audit_dir: Path,
                         threshold: float) -> tuple[dict, list[dict]]:
    """What monitoring compares production with, and the explainer's background rows, both stored with the
    model so that they travel with its version: the audit's mean |SHAP| per column and fairness tables, an
    isotonic calibration of the validation split's probabilities (for CBPE), and the test metrics (as the
    evaluate stage measures them; recomputed here so that a baseline change does not repackage the model)."""
    model, transform = TabularNet.load(model_dir), Transform.load(splits_dir / "transform.json")
    val, test = load_split(splits_dir, "val"), load_split(splits_dir, "test")
    metrics = classification_metrics(labels(test, params.schema), probabilities(model, transform, test), threshold,
                                     params.evaluate.calibration_bins)
    reference = {
        "attribution": json.loads((audit_dir / "shap_importance.json").read_text()),
        "fairness": json.loads((audit_dir / "fairness.json").read_text()),
        "calibration": fit_calibration(probabilities(model, transform, val), labels(val, params.schema)),
        "metrics": {k: round(metrics[k], 6) for k in ("roc_auc", "accuracy", "f1", "calibration_error")},
        "threshold": threshold,
    }
    train = load_split(splits_dir, "train")
    background = train.sample(min(params.audit.background_rows, len(train)), random_state=params.audit.seed)
    return reference, records(background[params.schema.features])


def save_model(params: Params, splits_dir: Path, model_dir: Path, decision_path: Path,
               audit_dir: Path) -> bentoml.Model:
    """A new version of the model in the BentoML store, holding everything Predictor.load needs, and the
    monitoring reference and explainer background (monitoring_reference).

    The schema is stored without its sensitive attributes: those concern the audit, not serving, so
    editing them re-audits the model without registering a new one.
    """
    threshold = json.loads(decision_path.read_text())["threshold"]
    reference, background = monitoring_reference(params, splits_dir, model_dir, audit_dir, threshold)
    transform_path = splits_dir / "transform.json"
    with bentoml.models.create(params.package.model_name, labels={"framework": "torch"},
                               metadata={"threshold": threshold}) as model:
        for name in ("model.safetensors", "model.json"):
            shutil.copy(model_dir / name, model.path_of(name))
        shutil.copy(transform_path, model.path_of("transform.json"))
        shutil.copy(decision_path, model.path_of("decision.json"))
        serving_schema = params.schema.model_copy(update={"sensitive": {}})
        Path(model.path_of("schema.json")).write_text(serving_schema.model_dump_json(indent=1))
        write_json(Path(model.path_of("serving.json")),
                   {"na_values": params.data.na_values, "max_records": params.package.max_records})
        write_json(Path(model.path_of("reference.json")), reference)
        write_json(Path(model.path_of("background.json")), background)
    Predictor.load(model.path)  # refuse to package what the service could not load
    return model


def run(params: Params, splits_dir: Path, model_dir: Path, decision_path: Path, audit_dir: Path, out_path: Path,
        root: Path = Path(".")) -> dict:
    """Save the model, build the bento, and record both tags in out_path."""
    model = save_model(params, splits_dir, model_dir, decision_path, audit_dir)
    bento = build_bento(str(model.tag), root)
    info = {"model_tag": str(model.tag), "bento_tag": str(bento.tag)}
    write_json(out_path, info)
    return info
