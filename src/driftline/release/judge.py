"""Judging a packaged model without writing the registry: gated against the champion (re-scored on this run's test
split), its card written, its bento built and load-and-queried (judge). The release (release.publish) registers
what judge returns; a dry run (`driftline release --dry-run`, a pull request's job) writes what the release would
decide and leaves the registry and the BentoML store as they were (dry_run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import NotFound

from driftline.config import Params
from driftline.core.artifacts import data_version, git_state, package_info, splits_dir, stage_file, write_json
from driftline.core.blend import MEMBERS, decision_blend
from driftline.core.data import columns_of
from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY, task_metrics
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.registry.bento import build_bento
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CHAMPION, Registry, now
from driftline.release.blessing import Blessing, Check
from driftline.release.card import (
    OUTPUT_FORMAT,
    bootstrap_intervals,
    card_json,
    card_markdown,
    decision_text,
    overview,
)
from driftline.release.gate import blessing, fairness_policy, require_task
from driftline.release.infra import load_and_query

log = logging.getLogger(__name__)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def metrics_of(evaluation: dict, prefix: str, task: str) -> dict:
    """The task's metrics of one model in evaluate's metrics (PREFIX: "" for the model, "baseline_", "dummy_")."""
    return {k: evaluation[prefix + k] for k in HIGHER_IS_BETTER[task] if prefix + k in evaluation}


def stored_scores(scores: pd.DataFrame, name: str, task: Task) -> np.ndarray:
    """One model's test scores in evaluate's scores.parquet: a column NAME, or NAME_<code> per class."""
    if task.kind == "multiclass":
        return scores[[f"{name}_{code}" for code in range(len(task.classes))]].to_numpy()
    return scores[name].to_numpy()


def primary_scores(answers: dict[str, np.ndarray], task: str) -> np.ndarray:
    """What the card's bootstrap scores (card.primary_metric) in a model's answers (core.task: decode)."""
    return answers[{"binary": "probability", "multiclass": "probabilities", "regression": "prediction"}[task]]


def champion_comparison(registry: Registry, test: pd.DataFrame, y: np.ndarray,
                        params: Params) -> tuple[np.ndarray, dict] | None:
    """The champion's scores and metrics on this run's test split (the data may have changed since); None when
    it predicts another target or task (after `driftline init` on new data), which no metric can compare."""
    predictor = resolve(registry, CHAMPION).predictor()
    if not predictor.schema.same_target(params.schema):
        log.warning("release: the champion predicts %s '%s', not this run's %s '%s': the candidate is not compared "
                    "with it", predictor.schema.task, predictor.schema.target, params.schema.task, params.schema.target)
        return None
    answers = predictor.predict_columns(columns_of(test, predictor.schema.features))
    threshold = predictor.threshold if predictor.task.kind == "binary" else None
    metrics = task_metrics(predictor.task.kind, y, answers, params.evaluate.calibration_bins, threshold)
    return primary_scores(answers, predictor.task.kind), {k: round(v, 6) for k, v in metrics.items()}


def card_facts(params: Params, root: Path, comparison: dict, intervals: dict, verdict: Blessing,
               test_rows: int) -> dict:
    """What the model card says beyond the registry entry, read from the stages' outputs."""
    schema = params.schema
    decision = read(stage_file(root, "evaluate", "decision.json"))
    importance = read(stage_file(root, "audit", "shap_importance.json"))
    gated_rows = "test rows of either label" if schema.task == "binary" else "test rows"
    return {
        "overview": overview(schema, decision),
        "output_format": OUTPUT_FORMAT[schema.task],
        "architecture": json.dumps(read(stage_file(root, "train", "model.json"))),
        "data": {"name": str(params.data.dir), "test_rows": test_rows, "origin": params.card.data_origin,
                 "train_rows": read(stage_file(root, "featurize", "featurize.json"))["train_rows"]},
        "intended_use": params.card.intended_use, "out_of_scope": params.card.out_of_scope,
        "comparison": comparison,
        "primary": PRIMARY[schema.task],
        "intervals": intervals,
        "decision": decision_text(schema, decision, params.evaluate.threshold_tolerance),
        "selected_by": f"best validation {Task.of(schema).stop_metric}",
        "target_link": read(stage_file(root, "featurize", "transform.json")).get("target"),
        "members": {name: metrics_of(read(stage_file(root, "evaluate", "evaluate.json")), f"{name}_", schema.task)
                    for name in MEMBERS},
        "fairness": read(stage_file(root, "audit", "fairness.json")),
        "top_features": dict(list(importance.items())[:5]),
        "limitations": [
            *params.card.limitations,
            f"Groups with fewer than {params.audit.min_group_size} {gated_rows} are reported but not gated: their "
            "rates are noise.",
        ],
        "fairness_policy": fairness_policy(params.gate, schema.task),
        "blessing": verdict.to_json(), "infra": {"status": "run on this bento after it was built; see the blessing"},
        "monitoring": params.monitor.model_dump(mode="json"),
    }


def infra_check(bento_tag: str, entry: dict, registry: Registry, test: pd.DataFrame,
                params: Params) -> tuple[dict, Check]:
    """The load-and-query result, and its check in the blessing."""
    rows = test.head(params.gate.infra.rows)[params.schema.features]
    predictor = resolve_entry(registry, entry).predictor()
    infra = load_and_query(bento_tag, entry["model_tag"], predictor, rows, params.gate.infra)
    limits = params.gate.infra
    return infra, Check(name="load and query", kind="infra", value=infra.get("p99_ms"),
                        threshold=f"ready within {limits.startup_timeout_s} s, all 200, equal offline, "
                                  f"p99 <= {limits.max_p99_ms} ms", passed=infra["passed"])


def rolls_out(params: Params, registry: Registry) -> bool:
    """Whether a blessed version becomes the candidate of a rollout rather than champion: in shadow or canary
    mode, once there is a champion to roll out beside."""
    return params.registry.rollout.mode != "direct" and CHAMPION in registry.aliases


def registered(registry: Registry, known: dict) -> dict:
    """The release's answer for a model registered before: its stored verdict, nothing moved."""
    return {"version": known["version"], "new": False, "promoted": False, "blessed": known["blessed"],
            "rollout": None, "blessing": Blessing.read(registry.blessing_path(known["version"]))}


def dry_run(params: Params, verdict_path: Path, root: Path = Path(".")) -> dict:
    """What `release` would decide, judged exactly as it judges (gate, card, bento, load and query), written to
    VERDICT_PATH as JSON; nothing is registered or moved.

    A pull request's job runs it before anyone merges, so it must leave no trace that a later release would
    trip over or that git would show: the registry stays byte-identical, and the bento it builds (and a
    champion imported from its export to be re-scored) leave the BentoML store again.
    """
    info = read(package_info(root))
    registry = Registry(root / params.registry.dir)
    known = registry.by_model_tag(info["model_tag"])
    if known is not None:  # the release would leave it as it is
        result = registered(registry, known)
    else:
        entry, final = judged_leaving_the_store(params, root, registry, info["model_tag"])
        promoted = final.blessed and not rolls_out(params, registry)
        result = {"version": entry["version"], "new": True, "promoted": promoted, "blessed": final.blessed,
                  "blessing": final}
    verdict = {"dry_run": True, "model_tag": info["model_tag"], "champion": registry.aliases.get(CHAMPION),
               "version": result["version"], "new": result["new"], "blessed": result["blessed"],
               "would_promote": result["promoted"],
               "would_roll_out": result["new"] and result["blessed"] and not result["promoted"],
               "blessing": result["blessing"]}
    write_json(verdict_path, verdict | {"blessing": result["blessing"].to_json()})
    return verdict


def judged_leaving_the_store(params: Params, root: Path, registry: Registry,
                             model_tag: str) -> tuple[dict, Blessing]:
    """judge() of MODEL_TAG, then the two things it adds to the BentoML store deleted again: the bento it built
    and the champion's model where it had to be imported from its export to be re-scored. Only those two, by
    their tags: another process's models and bentos in the same store are not the dry run's to remove."""
    champion = registry.aliases.get(CHAMPION)
    imported = registry.get(champion)["model_tag"] if champion is not None else None
    if imported is not None and in_store(imported):
        imported = None  # in the store before the dry run: it stays
    bentos = {str(b.tag) for b in bentoml.list()}
    try:
        entry, _, final = judge(params, root, registry, model_tag)
    finally:
        if imported is not None and in_store(imported):
            bentoml.models.delete(imported)
    if entry["bento_tag"] not in bentos:
        bentoml.delete(entry["bento_tag"])
    return entry, final


def in_store(model_tag: str) -> bool:
    """Whether the BentoML store holds the model MODEL_TAG."""
    try:
        bentoml.models.get(model_tag)
    except NotFound:
        return False
    return True


def judge(params: Params, root: Path, registry: Registry, model_tag: str) -> tuple[dict, dict, Blessing]:
    """The packaged MODEL_TAG gated against REGISTRY's champion, its bento built (card inside) and load-and-queried.

    Returns its registry entry, card and blessing; writes nothing under the registry, which is the caller's
    to change (the release) or to leave alone (the dry run).
    """
    task = Task.of(params.schema)
    require_task(params.gate, task)  # before any work: a gate on what this task does not report cannot judge it
    unfilled = params.card.unfilled()
    if unfilled:
        log.warning("release: warning: %s still hold driftline init's placeholders; write them in params.yaml so "
                    "that the model card describes the data and its uses", ", ".join(unfilled))
    version = bentoml.models.get(model_tag).tag.version
    test = load_split(splits_dir(root), "test")
    scores = pd.read_parquet(stage_file(root, "evaluate", "scores.parquet"))
    y = scores["target"].to_numpy()
    evaluation = read(stage_file(root, "evaluate", "evaluate.json"))
    gaps = read(stage_file(root, "audit", "audit.json"))
    kind = task.kind
    comparison = {name: metrics_of(evaluation, prefix, kind)
                  for name, prefix in (("candidate", ""), ("baseline", "baseline_"), ("dummy", "dummy_"))}
    predictions = {name: stored_scores(scores, column, task)
                   for name, column in (("candidate", "model"), ("baseline", "baseline"), ("dummy", "dummy"))}
    champion = registry.aliases.get(CHAMPION)
    compared = champion_comparison(registry, test, y, params) if champion is not None else None
    if compared is not None:
        predictions["champion"], comparison["champion"] = compared
    intervals = bootstrap_intervals(kind, y, predictions, params.gate.bootstrap_rounds)
    verdict = blessing(task, comparison, gaps, params.gate, intervals)

    primary = PRIMARY[kind]
    git_commit, dirty = git_state(root)
    entry = {
        "version": version, "model_tag": model_tag, "bento_tag": None, "created": now(),
        "data_version": data_version(root, params.data.dir), "git_commit": git_commit, "git_dirty": dirty,
        "params_hash": hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16], "task": kind,
        "metrics": comparison["candidate"], f"baseline_{primary}": comparison["baseline"][primary],
        f"champion_{primary}": comparison.get("champion", {}).get(primary), "champion_at_gate": champion,
        "fairness": gaps, "blessed": False, "failed_checks": [],
        "training_epochs": {k: read(stage_file(root, "train", "train.json"))[k] for k in ("epochs", "best_epoch")},
        "blend": decision_blend(read(stage_file(root, "evaluate", "decision.json"))),
        "card": str(registry.card_path(version).relative_to(root)),
    }
    card = card_json(entry, card_facts(params, root, comparison, intervals, verdict, len(test)))
    with tempfile.TemporaryDirectory() as tmp:  # the card ships in the bento; the registry gets it at the end
        staging = Registry(Path(tmp))
        write_card(staging, version, card)
        bento = build_bento(model_tag, root, extra_files=staging.card_files(version))

    infra, infra_line = infra_check(str(bento.tag), entry, registry, test, params)
    final = Blessing.of(verdict.checks + [infra_line], version=version, infra=infra, created=now())
    entry |= {"bento_tag": str(bento.tag), "blessed": final.blessed, "failed_checks": final.failed}
    return entry, card, final


def write_card(registry: Registry, version: str, card: dict) -> None:
    """The card as JSON and markdown under the registry's cards/."""
    write_json(registry.card_path(version, ".json"), card)
    registry.card_path(version).write_text(card_markdown(card))
