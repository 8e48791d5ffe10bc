"""package stage: register the model in the BentoML store and build a bento around the service."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import bentoml
import yaml

from driftline.artifacts import write_json
from driftline.config import Params
from driftline.data import labels
from driftline.encoding import Transform
from driftline.evaluate import classification_metrics
from driftline.featurize import load_split
from driftline.model import TabularNet
from driftline.monitoring.performance import fit_calibration
from driftline.predictor import Predictor, probabilities
from driftline.registry.infra import records
from driftline.registry.store import CHAMPION, Registry


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


def build_bento(model_tag: str, root: Path, extra_files: dict[str, Path] | None = None) -> bentoml.Bento:
    """Build the bento from bentofile.yaml with src/ as context, pinned to this model version.

    EXTRA_FILES (name in the bento: source path), such as the model card, are shipped beside the code.
    """
    spec = yaml.safe_load((root / "bentofile.yaml").read_text())
    spec["envs"] = [{"name": "DRIFTLINE_MODEL_TAG", "value": model_tag}]
    spec["labels"] = {"model": model_tag.replace(":", "-")}
    previous = os.environ.get("DRIFTLINE_MODEL_TAG")
    os.environ["DRIFTLINE_MODEL_TAG"] = model_tag  # the build imports the service, which resolves the tag
    try:
        with tempfile.TemporaryDirectory() as tmp:
            context = Path(tmp, "context")
            shutil.copytree(root / "src", context, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            for name, source in (extra_files or {}).items():
                shutil.copy(source, context / name)
                spec["include"].append(name)
            bentofile = Path(tmp, "bentofile.yaml")
            bentofile.write_text(yaml.safe_dump(spec))
            return bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(context))
    finally:
        if previous is None:
            del os.environ["DRIFTLINE_MODEL_TAG"]
        else:
            os.environ["DRIFTLINE_MODEL_TAG"] = previous


def run(params: Params, splits_dir: Path, model_dir: Path, decision_path: Path, audit_dir: Path, out_path: Path,
        root: Path = Path(".")) -> dict:
    """Save the model, build the bento, and record both tags in out_path."""
    model = save_model(params, splits_dir, model_dir, decision_path, audit_dir)
    bento = build_bento(str(model.tag), root)
    info = {"model_tag": str(model.tag), "bento_tag": str(bento.tag)}
    write_json(out_path, info)
    return info


def ensure_model(model_tag: str, export: Path) -> bentoml.Model:
    """The model from the local BentoML store, imported from its registry export when the store lacks it."""
    try:
        return bentoml.models.get(model_tag)
    except bentoml.exceptions.NotFound:
        if not export.is_file():
            raise FileNotFoundError(
                f"model {model_tag} is neither in the BentoML store nor at {export}: run `dvc pull {export.parent}.dvc`"
            ) from None
        bentoml.models.import_model(str(export.resolve()))
        return bentoml.models.get(model_tag)


def registered_predictor(registry: Registry, entry: dict) -> Predictor:
    """The Predictor of a registered version (a registry entry), importing its model if needed."""
    return Predictor.load(ensure_model(entry["model_tag"], registry.model_file(entry["version"])).path)


def serving_bento(params: Params, root: Path, name: str = CHAMPION) -> tuple[str, dict]:
    """The bento tag and registry entry to serve NAME; a bento missing from the store is rebuilt from its model."""
    registry = Registry(root / params.registry.dir)
    entry = registry.get(name)
    ensure_model(entry["model_tag"], registry.model_file(entry["version"]))
    try:
        return str(bentoml.get(entry["bento_tag"]).tag), entry
    except bentoml.exceptions.NotFound:  # a fresh clone after `dvc pull`: same model, same code, new bento
        return str(build_bento(entry["model_tag"], root, registry.card_files(entry["version"])).tag), entry


def predictor_for(params: Params, root: Path, name: str = CHAMPION) -> tuple[dict, Predictor]:
    """The registry entry and Predictor of NAME (a version or an alias: champion by default)."""
    registry = Registry(root / params.registry.dir)
    entry = registry.get(name)
    return entry, registered_predictor(registry, entry)


def packaged_predictor(package_path: Path) -> Predictor:
    """The Predictor of the model that the package stage registered (by exact tag)."""
    if not package_path.is_file():
        raise FileNotFoundError(f"{package_path} not found: run `dvc repro package` (or `make run`) first")
    tag = json.loads(package_path.read_text())["model_tag"]
    try:
        return Predictor.load(bentoml.models.get(tag).path)
    except bentoml.exceptions.NotFound:
        raise FileNotFoundError(
            f"model {tag} is not in the BentoML store: run `dvc repro --force package`"
        ) from None
