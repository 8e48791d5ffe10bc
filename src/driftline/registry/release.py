"""Release: register the packaged model, gate it, check its bento serves, write its card, promote it.

It runs after the dvc.yaml stages (as the training flow's last step, or `driftline release`). A
model that is already registered is left as it is, so a no-op `dvc repro` never moves an alias.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import bentoml
import pandas as pd
import yaml

from driftline.config import Params
from driftline.core.artifacts import dvc, git_state, package_info, splits_dir, stage_file, stage_outs, write_json
from driftline.core.metrics import classification_metrics
from driftline.core.splits import load_split
from driftline.errors import IngestError, RegistryError
from driftline.registry.bento import build_bento
from driftline.registry.card import auc_intervals, card_json, card_markdown
from driftline.registry.gate import blessing
from driftline.registry.infra import load_and_query
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CHALLENGER, CHAMPION, Registry, now
from driftline.reporting.index import build_index

CARD_METRICS = ("roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "calibration_error")


def data_version(root: Path, params: Params) -> str | None:
    """The md5 that the data folder's .dvc file records."""
    pointer = root / f"{params.data.dir}.dvc"
    return yaml.safe_load(pointer.read_text())["outs"][0]["md5"] if pointer.is_file() else None


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def export_model(registry: Registry, version: str, model_tag: str, root: Path, params: Params) -> None:
    """Keep the model outside the BentoML store: an export under the registry, versioned (and pushed) by DVC."""
    target = registry.model_file(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    bentoml.models.export_model(model_tag, str(target.resolve()))
    models = str(target.parent.relative_to(root))
    dvc(root, "add", "-q", models)
    if params.registry.push:
        dvc(root, "push", "-q", f"{models}.dvc")


def champion_comparison(registry: Registry, test: pd.DataFrame, y, params: Params):
    """The champion's probabilities and metrics on this run's test split (the data may have changed since)."""
    predictor = resolve(registry, CHAMPION).predictor()
    probabilities = predictor.predict(test)["probability"].to_numpy()
    metrics = classification_metrics(y, probabilities, predictor.threshold, params.evaluate.calibration_bins)
    return probabilities, {k: round(v, 6) for k, v in metrics.items()}


def card_facts(params: Params, root: Path, comparison: dict, intervals: dict, verdict: dict, test_rows: int) -> dict:
    """What the model card says beyond the registry entry, read from the stages' outputs."""
    decision = read(stage_file(root, "evaluate", "decision.json"))
    importance = read(stage_file(root, "audit", "shap_importance.json"))
    return {
        "overview": f"Binary classifier of '{params.schema.target}' = '{params.schema.positive_label}'.",
        "architecture": json.dumps(read(stage_file(root, "train", "model.json"))),
        "data": {"name": str(params.data.dir), "test_rows": test_rows, "origin": params.card.data_origin,
                 "train_rows": read(stage_file(root, "featurize", "featurize.json"))["train_rows"]},
        "intended_use": params.card.intended_use, "out_of_scope": params.card.out_of_scope,
        "comparison": comparison,
        "intervals": intervals,
        "threshold": f"{decision['threshold']:.6f}: the median of the cuts within "
                     f"{params.evaluate.threshold_tolerance} of the best {decision['objective']} on validation",
        "fairness": read(stage_file(root, "audit", "fairness.json")),
        "top_features": dict(list(importance.items())[:5]),
        "limitations": [
            *params.card.limitations,
            f"Groups with fewer than {params.audit.min_group_size} test rows of either label are reported "
            "but not gated: their rates are noise.",
        ],
        "fairness_policy": f"gated on parity amplification <= {params.gate.max_parity_amplification} and "
                           f"equalized odds <= {params.gate.max_equalized_odds_difference}",
        "blessing": verdict, "infra": {"status": "run on this bento after it was built; see the blessing"},
        "monitoring": params.monitor.model_dump(mode="json"),
    }


def infra_check(bento_tag: str, entry: dict, registry: Registry, test: pd.DataFrame,
                params: Params) -> tuple[dict, dict]:
    """The load-and-query result, and its line in the blessing."""
    rows = test.head(params.gate.infra.rows)
    expected = resolve_entry(registry, entry).predictor().predict(rows)["probability"].to_numpy()
    infra = load_and_query(bento_tag, entry["model_tag"], rows[params.schema.features], expected, params.gate.infra)
    limits = params.gate.infra
    return infra, {"name": "load and query", "kind": "infra", "value": infra.get("p99_ms"),
                   "threshold": f"ready within {limits.startup_timeout_s} s, all 200, equal offline, "
                                f"p99 <= {limits.max_p99_ms} ms", "passed": infra["passed"]}


def release(params: Params, root: Path = Path(".")) -> dict:
    """Register the packaged model as a new version, gate it, run the infra check and promote it if blessed."""
    info = read(package_info(root))
    registry = Registry(root / params.registry.dir)
    known = registry.by_model_tag(info["model_tag"])
    if known is not None:
        return {"version": known["version"], "new": False, "promoted": False, "blessed": known["blessed"],
                "blessing": read(registry.blessing_path(known["version"]))}

    unfilled = params.card.unfilled()
    if unfilled:
        print(f"release: warning: {', '.join(unfilled)} still hold driftline init's placeholders; write them in "
              "params.yaml so that the model card describes the data and its uses", file=sys.stderr)
    version = bentoml.models.get(info["model_tag"]).tag.version
    test = load_split(splits_dir(root), "test")
    scores = pd.read_parquet(stage_file(root, "evaluate", "scores.parquet"))
    y = scores["label"].to_numpy()
    evaluation = read(stage_file(root, "evaluate", "evaluate.json"))
    gaps = read(stage_file(root, "audit", "audit.json"))
    comparison = {"candidate": {k: evaluation[k] for k in CARD_METRICS},
                  "baseline": {k: evaluation[f"baseline_{k}"] for k in CARD_METRICS}}
    probabilities = {"candidate": scores["model"].to_numpy(), "baseline": scores["baseline"].to_numpy()}
    champion = registry.aliases.get(CHAMPION)
    if champion is not None:
        probabilities["champion"], comparison["champion"] = champion_comparison(registry, test, y, params)
    verdict = blessing(comparison["candidate"], comparison["baseline"], comparison.get("champion"), gaps, params.gate)

    git_commit, dirty = git_state(root)
    entry = {
        "version": version, "model_tag": info["model_tag"], "bento_tag": None, "created": now(),
        "data_version": data_version(root, params), "git_commit": git_commit, "git_dirty": dirty,
        "params_hash": hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16],
        "metrics": comparison["candidate"], "baseline_roc_auc": comparison["baseline"]["roc_auc"],
        "champion_roc_auc": comparison.get("champion", {}).get("roc_auc"), "champion_at_gate": champion,
        "fairness": gaps, "blessed": False, "failed_checks": [],
        "training_epochs": {k: read(stage_file(root, "train", "train.json"))[k] for k in ("epochs", "best_epoch")},
        "card": str(registry.card_path(version).relative_to(root)),
    }
    intervals = auc_intervals(y, probabilities, params.gate.bootstrap_rounds)
    card = card_json(entry, card_facts(params, root, comparison, intervals, verdict, len(test)))
    with tempfile.TemporaryDirectory() as tmp:  # the card ships in the bento; the registry gets it at the end
        staging = Registry(Path(tmp))
        write_card(staging, version, card)
        bento = build_bento(info["model_tag"], root, extra_files=staging.card_files(version))

    infra, infra_line = infra_check(str(bento.tag), entry, registry, test, params)
    checks = verdict["checks"] + [infra_line]
    blessed = all(c["passed"] for c in checks)
    final = {"version": version, "blessed": blessed, "checks": checks, "infra": infra, "created": now()}
    entry |= {"bento_tag": str(bento.tag), "blessed": blessed,
              "failed_checks": [c["name"] for c in checks if not c["passed"]]}
    try:
        export_model(registry, version, info["model_tag"], root, params)
    except IngestError as exc:
        raise RegistryError(f"could not version the model under {registry.dir}: {exc}") from None
    write_json(registry.blessing_path(version), final)
    write_card(registry, version, card | {"gate": final, "infra_check": infra})
    registry.register(entry)
    registry.move(CHALLENGER, version, "new candidate from the training run")
    if blessed:
        registry.move(CHAMPION, version, "blessed by the gate and the infra check")
    snapshot_reports(root, registry, entry)
    build_index(root)
    return {"version": version, "new": True, "promoted": blessed, "blessed": blessed, "blessing": final}


def write_card(registry: Registry, version: str, card: dict) -> None:
    """The card as JSON and markdown under the registry's cards/."""
    write_json(registry.card_path(version, ".json"), card)
    registry.card_path(version).write_text(card_markdown(card))


def promote(params: Params, version: str, root: Path = Path("."), force: bool = False,
            reason: str | None = None) -> dict:
    """Make VERSION the champion; an unblessed one only with force and a reason, which the history records."""
    registry = Registry(root / params.registry.dir)
    entry = registry.get(version)
    if not entry["blessed"] and not force:
        raise RegistryError(f"version {entry['version']} is not blessed (failed: {', '.join(entry['failed_checks'])});"
                            " use --force --reason TEXT to override the gate")
    if force and not reason:
        raise RegistryError("--force needs --reason TEXT: the history records why the gate was overridden")
    resolve_entry(registry, entry).predictor()  # refuse to promote what cannot be loaded here
    forced = force and not entry["blessed"]
    return registry.move(CHAMPION, entry["version"], reason or "promoted by hand", forced=forced)


def rollback(params: Params, root: Path = Path("."), reason: str = "rollback") -> dict:
    """The champion goes back to the previous champion."""
    registry = Registry(root / params.registry.dir)
    previous = registry.previous_champion()
    resolve(registry, previous).predictor()
    return registry.move(CHAMPION, previous, reason)


def snapshot_reports(root: Path, registry: Registry, entry: dict) -> Path:
    """Copy this run's reports under reports/runs/<version>/ with a run.json, for the report index."""
    run = root / "reports" / "runs" / entry["version"]
    (audit_dir,) = stage_outs(root, "audit")
    sources = {"docs": stage_file(root, "validate", "docs"), "audit": audit_dir}
    for name, source in sources.items():
        if source.exists():
            shutil.copytree(source, run / name, dirs_exist_ok=True)
    shutil.copy(registry.card_path(entry["version"]), run / "card.md")
    shutil.copy(registry.blessing_path(entry["version"]), run / "blessing.json")
    metrics = entry["metrics"]
    write_json(run / "run.json", {
        "version": entry["version"], "created": entry["created"], "blessed": entry["blessed"],
        "promoted": registry.aliases.get(CHAMPION) == entry["version"],
        "aliases": registry.aliases_of(entry["version"]),
        "summary": f"roc_auc={metrics['roc_auc']:.4f} baseline={entry['baseline_roc_auc']:.4f}",
        "links": {"contract": "docs/index.html", "audit": "audit/shap_beeswarm.png", "card": "card.md",
                  "gate": "blessing.json"},
    })
    return run
