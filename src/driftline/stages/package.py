"""package stage: register the model in the BentoML store and build a bento around the service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bentoml
import pandas as pd

from driftline.config import Params
from driftline.core.artifacts import write_json
from driftline.core.blend import Blend
from driftline.core.data import records
from driftline.core.encoding import Transform
from driftline.core.estimators import NANNY_FILE, NANNY_ROWS, estimation_reference
from driftline.core.metrics import task_metrics
from driftline.core.predictor import Predictor, weights
from driftline.core.splits import load_split
from driftline.core.spread import spread_reference
from driftline.core.task import Task
from driftline.core.trees import TREES_FILE
from driftline.registry.bento import build_bento

FRAMEWORKS = {("deep",): "torch", ("boost",): "lightgbm", ("deep", "boost"): "torch+lightgbm"}  # by the members


def monitoring_reference(params: Params, splits_dir: Path, model_dir: Path, trees_dir: Path, audit_dir: Path,
                         decision: dict) -> tuple[dict, list[dict], pd.DataFrame | None]:
    """What monitoring compares production with, stored with the model so that it travels with its version:
    reference.json, the explainer's background rows, and for a regression the rows performance estimation learns
    from (None otherwise).

    reference.json holds the audit's mean |SHAP| per column and fairness tables, the DECISION, the task's test
    metrics (as the evaluate stage measures them; recomputed here so that a baseline change does not repackage
    the model), what CBPE needs (core.estimators: estimation_reference, fitted on the validation
    split) and the test split's spread, from which monitoring derives each estimate's sampling error and the
    thresholds of NannyML's reference chunks (core.spread: spread_reference). A regression's DLE
    learns from validation rows (features and target), at most NANNY_ROWS of them.
    """
    schema = params.schema
    task = Task.of(schema)
    transform = Transform.load(splits_dir / "transform.json")
    blend = Blend.load(transform, weights(decision), model_dir, trees_dir)
    val, test = load_split(splits_dir, "val"), load_split(splits_dir, "test")
    answers = {name: task.decode(blend.raw_frame(split), decision, transform.target)
               for name, split in (("val", val), ("test", test))}
    bins, threshold, y_test = params.evaluate.calibration_bins, decision.get("threshold"), task.targets(test)
    metrics = task_metrics(task.kind, y_test, answers["test"], bins, threshold)
    reference = {
        "attribution": json.loads((audit_dir / "shap_importance.json").read_text()),
        "fairness": json.loads((audit_dir / "fairness.json").read_text()),
        "metrics": {k: round(v, 6) for k, v in metrics.items()},
        "decision": decision,
    } | estimation_reference(task, answers["val"], task.targets(val))
    reference |= spread_reference(task, answers["test"], y_test, bins, threshold)
    train = load_split(splits_dir, "train")
    background = train.sample(min(params.audit.background_rows, len(train)), random_state=params.audit.seed)
    # the split is shuffled, so its first rows are a random sample
    nanny = val[[*schema.features, schema.target]].head(NANNY_ROWS) if task.kind == "regression" else None
    return reference, records(background[schema.features]), nanny


def save_model(params: Params, splits_dir: Path, model_dir: Path, trees_dir: Path, decision_path: Path,
               audit_dir: Path) -> bentoml.Model:
    """A new version of the model in the BentoML store, holding everything Predictor.load needs, and the
    monitoring reference, explainer background and performance-estimation rows (monitoring_reference).

    The schema is stored without its sensitive attributes: those concern the audit, not serving, so
    editing them re-audits the model without registering a new one.
    """
    decision = json.loads(decision_path.read_text())
    reference, background, nanny = monitoring_reference(params, splits_dir, model_dir, trees_dir, audit_dir, decision)
    transform_path = splits_dir / "transform.json"
    metadata = {"task": params.schema.task} | ({"threshold": decision["threshold"]} if "threshold" in decision else {})
    with bentoml.models.create(params.package.model_name, labels={"framework": FRAMEWORKS[tuple(weights(decision))]},
                               metadata=metadata) as model:
        for name in ("model.safetensors", "model.json"):
            shutil.copy(model_dir / name, model.path_of(name))
        if "boost" in weights(decision):
            shutil.copy(trees_dir / TREES_FILE, model.path_of(TREES_FILE))
        shutil.copy(transform_path, model.path_of("transform.json"))
        shutil.copy(decision_path, model.path_of("decision.json"))
        serving_schema = params.schema.model_copy(update={"sensitive": {}})
        Path(model.path_of("schema.json")).write_text(serving_schema.model_dump_json(indent=1))
        write_json(Path(model.path_of("serving.json")),
                   {"na_values": params.data.na_values, "max_records": params.package.max_records})
        write_json(Path(model.path_of("reference.json")), reference)
        write_json(Path(model.path_of("background.json")), background)
        if nanny is not None:
            nanny.to_parquet(model.path_of(NANNY_FILE), index=False)
    stored = bentoml.models.get(model.tag)  # MODEL's own path was a temporary folder, gone once it is collected
    Predictor.load(stored.path)  # refuse to package what the service could not load
    return stored


def run(params: Params, splits_dir: Path, model_dir: Path, trees_dir: Path, decision_path: Path, audit_dir: Path,
        out_path: Path, root: Path = Path(".")) -> dict:
    """Save the model, build the bento, and record both tags in out_path."""
    model = save_model(params, splits_dir, model_dir, trees_dir, decision_path, audit_dir)
    bento = build_bento(str(model.tag), root)
    info = {"model_tag": str(model.tag), "bento_tag": str(bento.tag)}
    write_json(out_path, info)
    return info
