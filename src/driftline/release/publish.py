"""Release: register the packaged model, gate it, check its bento serves, write its card, promote it.

It runs after the dvc.yaml stages (as the training flow's last step, or `driftline release`). The long part (gate,
bento, infra check: judge) reads the registry and writes nothing there; then each step is a registry transaction
of its own: register, the challenger's move, the champion's move (or the rollout's start). A model that is already
registered gets only the moves its release still owes (owed: a release that died half-way is finished), so a
no-op `dvc repro` moves nothing. A dry run (`driftline release --dry-run`, a pull request's job) judges the
model the same way and keeps nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
from bentoml.exceptions import NotFound

from driftline.config import Params
from driftline.core.artifacts import (
    data_version,
    dvc,
    git_state,
    package_info,
    splits_dir,
    stage_file,
    stage_outs,
    write_json,
)
from driftline.core.data import columns_of
from driftline.core.failpoints import failpoint
from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY, task_metrics
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.errors import IngestError, RegistryError
from driftline.registry.bento import build_bento
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CANDIDATE, CHALLENGER, CHAMPION, Registry, now
from driftline.release import rollout
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
from driftline.reporting.index import build_index


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
        print(f"release: the champion predicts {predictor.schema.task} '{predictor.schema.target}', not this run's "
              f"{params.schema.task} '{params.schema.target}': the candidate is not compared with it", file=sys.stderr)
        return None
    answers = predictor.predict_columns(columns_of(test, predictor.schema.features))
    threshold = predictor.threshold if predictor.task.kind == "binary" else None
    metrics = task_metrics(predictor.task.kind, y, answers, params.evaluate.calibration_bins, threshold)
    return primary_scores(answers, predictor.task.kind), {k: round(v, 6) for k, v in metrics.items()}


def card_facts(params: Params, root: Path, comparison: dict, intervals: dict, verdict: dict, test_rows: int) -> dict:
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
        "fairness": read(stage_file(root, "audit", "fairness.json")),
        "top_features": dict(list(importance.items())[:5]),
        "limitations": [
            *params.card.limitations,
            f"Groups with fewer than {params.audit.min_group_size} {gated_rows} are reported but not gated: their "
            "rates are noise.",
        ],
        "fairness_policy": fairness_policy(params.gate, schema.task),
        "blessing": verdict, "infra": {"status": "run on this bento after it was built; see the blessing"},
        "monitoring": params.monitor.model_dump(mode="json"),
    }


def infra_check(bento_tag: str, entry: dict, registry: Registry, test: pd.DataFrame,
                params: Params) -> tuple[dict, dict]:
    """The load-and-query result, and its line in the blessing."""
    rows = test.head(params.gate.infra.rows)[params.schema.features]
    predictor = resolve_entry(registry, entry).predictor()
    infra = load_and_query(bento_tag, entry["model_tag"], predictor, rows, params.gate.infra)
    limits = params.gate.infra
    return infra, {"name": "load and query", "kind": "infra", "value": infra.get("p99_ms"),
                   "threshold": f"ready within {limits.startup_timeout_s} s, all 200, equal offline, "
                                f"p99 <= {limits.max_p99_ms} ms", "passed": infra["passed"]}


def release(params: Params, root: Path = Path("."), alert: str | None = None) -> dict:
    """Register the packaged model as a new version, gate it, run the infra check and promote it if blessed (or
    make it the candidate of a rollout); for a model registered before, make the moves its release still owes.
    ALERT: the alert record whose event started this training run, kept in the entry as its trigger."""
    info = read(package_info(root))
    registry = Registry(root / params.registry.dir)
    entry = registry.by_model_tag(info["model_tag"])
    new = entry is None
    if new:
        entry = register_new(params, root, registry, info["model_tag"], alert)
    made, stale = complete(params, registry, entry)
    version = entry["version"]
    if new or made or not (run_dir(root, version) / "run.json").is_file():  # or one that died before its snapshot
        snapshot_reports(root, registry, entry)
        build_index(root)
    return {"version": version, "new": new, "blessed": entry["blessed"],
            "promoted": any(r["alias"] == CHAMPION for r in made),
            "rollout": next((r["rollout"] for r in made if r["alias"] == CANDIDATE), None),
            "blessing": read(registry.blessing_path(version)), "note": release_note(new, made, stale)}


def release_note(new: bool, made: list[dict], stale: str | None) -> str | None:
    """What the release says beside its outcome: why a blessed version was not promoted, or what it did for a
    version registered before (finished its release, or nothing: already released)."""
    if stale or new:
        return stale
    if made:
        return f"registered by a release that did not finish: this run moved {', '.join(r['alias'] for r in made)}"
    return "already released: an earlier release made its moves"


def register_new(params: Params, root: Path, registry: Registry, model_tag: str, alert: str | None) -> dict:
    """Judge MODEL_TAG (outside the registry's lock: minutes), keep its export, blessing and card, and register it;
    its entry."""
    entry, card, final = judge(params, root, registry, model_tag)
    if alert:
        entry["trigger"] = triggered_by(root, Path(alert))
    version = entry["version"]
    try:
        export_model(registry, version, model_tag, root, params)
    except IngestError as exc:
        raise RegistryError(f"could not version the model under {registry.dir}: {exc}") from None
    write_json(registry.blessing_path(version), final)
    write_card(registry, version, card | {"gate": final, "infra_check": final["infra"]})
    with registry.transaction():
        if registry.by_model_tag(model_tag) is None:  # another release of the same model may have registered it
            registry.register(entry)
    failpoint("release.registered")
    return entry


def owed(registry: Registry, entry: dict) -> list[str]:
    """The aliases the release of ENTRY has yet to move, from its blessing and the history: none once the history
    moved champion or candidate to it (released, even if rolled back or superseded since) or a rollout decision
    refused it; else challenger unless it was moved there, and champion (or a rollout's candidate) when blessed."""
    entry = registry.get(entry["version"])
    moved = {record["alias"] for record in registry.history() if record.get("to") == entry["version"]}
    if moved & {CHAMPION, CANDIDATE} or entry.get("refused"):
        return []
    return [alias for alias, due in ((CHALLENGER, CHALLENGER not in moved), (CHAMPION, entry["blessed"])) if due]


def stale_gate(registry: Registry, entry: dict) -> str | None:
    """Why ENTRY may not be promoted on its blessing any more: the champion the gate compared it with is no longer
    champion (another release or a rollout decision moved it). None: the verdict still stands."""
    judged, current = entry.get("champion_at_gate"), registry.aliases.get(CHAMPION)
    if judged == current:
        return None
    return (f"the champion is {current}, not {judged or 'none'} as when the gate judged version {entry['version']}: "
            f"it is not promoted (`driftline promote {entry['version']}` or `driftline rollout start "
            f"{entry['version']}` releases it by hand)")


def complete(params: Params, registry: Registry, entry: dict) -> tuple[list[dict], str | None]:
    """Make the moves the release of ENTRY owes, each in a transaction that checks again that it is owed: the
    challenger's, then the champion's or the rollout's start as the params say. The history records of the moves
    made, and stale_gate's reason where the champion's move is owed but no longer stands."""
    version, made = entry["version"], []
    with registry.transaction():
        if CHALLENGER in owed(registry, entry):
            made.append(registry.move(CHALLENGER, version, "new candidate from the training run"))
    failpoint("release.challenger")
    if CHAMPION not in owed(registry, entry):
        return made, None
    stale = stale_gate(registry, entry)
    if stale:
        return made, stale
    mode = params.registry.rollout
    rolling = rolls_out(params, registry)
    checked = rollout.check(registry, registry.get(version), mode.mode, mode.canary_share) if rolling else None
    failpoint("release.promote")
    with registry.transaction():
        stale = stale_gate(registry, entry)
        if CHAMPION in owed(registry, entry) and not stale:
            made.append(rollout.begin(registry, version, mode.mode, mode.canary_share, "blessed by the gate and the "
                                      f"infra check: {mode.mode} rollout", checked) if rolling else
                        registry.move(CHAMPION, version, "blessed by the gate and the infra check"))
    return made, stale


def triggered_by(root: Path, alert: Path) -> dict:
    """The alert that started a training run: its record (relative to ROOT where it is inside), its event id and
    the rules that fired, as far as the record can still be read."""
    shown = alert.resolve().relative_to(root.resolve()) if alert.resolve().is_relative_to(root.resolve()) else alert
    try:
        record = read(alert)
    except (OSError, ValueError):
        return {"alert": str(shown), "event": None, "rules": None}
    return {"alert": str(shown), "event": record.get("event", {}).get("id"),
            "rules": [finding.get("rule") for finding in record.get("findings", [])]}


def rolls_out(params: Params, registry: Registry) -> bool:
    """Whether a blessed version becomes the candidate of a rollout rather than champion: in shadow or canary
    mode, once there is a champion to roll out beside."""
    return params.registry.rollout.mode != "direct" and CHAMPION in registry.aliases


def registered(registry: Registry, known: dict) -> dict:
    """The release's answer for a model registered before: its stored verdict, nothing moved."""
    return {"version": known["version"], "new": False, "promoted": False, "blessed": known["blessed"],
            "rollout": None, "blessing": read(registry.blessing_path(known["version"]))}


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
        promoted = final["blessed"] and not rolls_out(params, registry)
        result = {"version": entry["version"], "new": True, "promoted": promoted, "blessed": final["blessed"],
                  "blessing": final}
    verdict = {"dry_run": True, "model_tag": info["model_tag"], "champion": registry.aliases.get(CHAMPION),
               "version": result["version"], "new": result["new"], "blessed": result["blessed"],
               "would_promote": result["promoted"],
               "would_roll_out": result["new"] and result["blessed"] and not result["promoted"],
               "blessing": result["blessing"]}
    write_json(verdict_path, verdict)
    return verdict


def judged_leaving_the_store(params: Params, root: Path, registry: Registry, model_tag: str) -> tuple[dict, dict]:
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


def judge(params: Params, root: Path, registry: Registry, model_tag: str) -> tuple[dict, dict, dict]:
    """The packaged MODEL_TAG gated against REGISTRY's champion, its bento built (card inside) and load-and-queried.

    Returns its registry entry, card and blessing; writes nothing under the registry, which is the caller's
    to change (the release) or to leave alone (the dry run).
    """
    task = Task.of(params.schema)
    require_task(params.gate, task)  # before any work: a gate on what this task does not report cannot judge it
    unfilled = params.card.unfilled()
    if unfilled:
        print(f"release: warning: {', '.join(unfilled)} still hold driftline init's placeholders; write them in "
              "params.yaml so that the model card describes the data and its uses", file=sys.stderr)
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
    verdict = blessing(task, comparison, gaps, params.gate)

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
        "card": str(registry.card_path(version).relative_to(root)),
    }
    intervals = bootstrap_intervals(kind, y, predictions, params.gate.bootstrap_rounds)
    card = card_json(entry, card_facts(params, root, comparison, intervals, verdict, len(test)))
    with tempfile.TemporaryDirectory() as tmp:  # the card ships in the bento; the registry gets it at the end
        staging = Registry(Path(tmp))
        write_card(staging, version, card)
        bento = build_bento(model_tag, root, extra_files=staging.card_files(version))

    infra, infra_line = infra_check(str(bento.tag), entry, registry, test, params)
    checks = verdict["checks"] + [infra_line]
    blessed = all(c["passed"] for c in checks)
    entry |= {"bento_tag": str(bento.tag), "blessed": blessed,
              "failed_checks": [c["name"] for c in checks if not c["passed"]]}
    return entry, card, {"version": version, "blessed": blessed, "checks": checks, "infra": infra, "created": now()}


def write_card(registry: Registry, version: str, card: dict) -> None:
    """The card as JSON and markdown under the registry's cards/."""
    write_json(registry.card_path(version, ".json"), card)
    registry.card_path(version).write_text(card_markdown(card))


def promote(params: Params, version: str, root: Path = Path("."), force: bool = False,
            reason: str | None = None) -> dict:
    """Make VERSION the champion; one that the gate or a rollout decision refused only with force and a reason,
    which the history records."""
    registry = Registry(root / params.registry.dir)
    entry = registry.get(version)
    if force and not reason:
        raise RegistryError("--force needs --reason TEXT: the history records why the refusal was overridden")
    allowed(entry, force)
    resolve_entry(registry, entry).predictor()  # refuse to promote what cannot be loaded here
    with registry.transaction():
        entry = registry.get(version)
        forced = allowed(entry, force)  # the registry read again: refused since?
        if registry.rollout is not None and registry.rollout["version"] == entry["version"]:
            rollout.stop(registry, "its candidate was promoted by hand")
        return registry.move(CHAMPION, entry["version"], reason or "promoted by hand", forced=forced)


def allowed(entry: dict, force: bool) -> bool:
    """Whether promoting ENTRY overrides a refusal (the gate's, or a rollout decision's, as `rollout start` refuses
    it); a RegistryError that says which when it does and FORCE is not given."""
    version = entry["version"]
    if entry.get("refused"):
        refusal = (f"version {version} was rolled back by a rollout decision ({entry['refused']['decision']}): "
                   f"{entry['refused']['reason']}")
    elif not entry["blessed"]:
        refusal = f"version {version} is not blessed (failed: {', '.join(entry['failed_checks'])})"
    else:
        return False
    if not force:
        raise RegistryError(f"{refusal}; use --force --reason TEXT to override the refusal")
    return True


def rollback(params: Params, root: Path = Path("."), reason: str = "rollback") -> dict:
    """The champion goes back down its history (Registry.previous_champion): to the champion before it that no
    rollout decision refused, never to one a rollback left."""
    registry = Registry(root / params.registry.dir)
    previous = registry.previous_champion()
    resolve(registry, previous).predictor()
    with registry.transaction():
        if registry.previous_champion() != previous:
            raise RegistryError(f"the champion's history changed while version {previous} was loaded: nothing "
                                "moved; run the rollback again")
        return registry.move(CHAMPION, previous, reason, rollback=True)


def run_dir(root: Path, version: str) -> Path:
    """Where the release keeps a version's run: reports/runs/<version>/."""
    return root / "reports" / "runs" / version


def snapshot_reports(root: Path, registry: Registry, entry: dict) -> Path:
    """Copy this run's reports under reports/runs/<version>/ with a run.json, for the report index."""
    run = run_dir(root, entry["version"])
    (audit_dir,) = stage_outs(root, "audit")
    sources = {"docs": stage_file(root, "validate", "docs"), "audit": audit_dir}
    for name, source in sources.items():
        if source.exists():
            shutil.copytree(source, run / name, dirs_exist_ok=True)
    shutil.copy(registry.card_path(entry["version"]), run / "card.md")
    shutil.copy(registry.blessing_path(entry["version"]), run / "blessing.json")
    metrics, primary = entry["metrics"], PRIMARY[entry["task"]]
    write_json(run / "run.json", {
        "version": entry["version"], "created": entry["created"], "blessed": entry["blessed"],
        "promoted": registry.aliases.get(CHAMPION) == entry["version"],
        "aliases": registry.aliases_of(entry["version"]),
        "summary": f"{primary}={metrics[primary]:.4f} baseline={entry[f'baseline_{primary}']:.4f}",
        "links": {"contract": "docs/index.html", "audit": "audit/shap_beeswarm.png", "card": "card.md",
                  "gate": "blessing.json"},
    })
    return run
