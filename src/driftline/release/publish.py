"""Release: register the packaged model, gate it, check its bento serves, write its card, promote it.

It runs after the dvc.yaml stages (as the training flow's last step, or `driftline release`). The long part (gate,
bento, infra check: release.judge) reads the registry and writes nothing there; then each step is a registry
transaction of its own: register, the challenger's move, the champion's move (or the rollout's start). A model that
is already registered gets only the moves its release still owes (owed: a release that died half-way is finished),
so a no-op `dvc repro` moves nothing. A dry run (`driftline release --dry-run`, a pull request's job; release.judge:
dry_run) judges the model the same way and keeps nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import bentoml

from driftline.config import Params
from driftline.core.artifacts import dvc, package_info, stage_file, stage_outs, write_json
from driftline.core.failpoints import failpoint
from driftline.core.layout import RUNS_DIR
from driftline.core.metrics import PRIMARY
from driftline.errors import IngestError, RegistryError
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CANDIDATE, CHALLENGER, CHAMPION, Registry
from driftline.release import rollout
from driftline.release.blessing import Blessing
from driftline.release.judge import judge, read, rolls_out, write_card


def export_model(registry: Registry, version: str, model_tag: str, root: Path, params: Params) -> None:
    """Keep the model outside the BentoML store: an export under the registry, versioned (and pushed) by DVC."""
    target = registry.model_file(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    bentoml.models.export_model(model_tag, str(target.resolve()))
    models = str(target.parent.relative_to(root))
    dvc(root, "add", "-q", models)
    if params.registry.push:
        dvc(root, "push", "-q", f"{models}.dvc")


def release(params: Params, root: Path = Path("."), alert: str | None = None) -> dict:
    """Register the packaged model as a new version, gate it, run the infra check and promote it if blessed (or
    make it the candidate of a rollout); for a model registered before, make the moves its release still owes.
    ALERT: the alert record whose event started this training run, kept in the entry as its trigger. `reports` is
    the version's run folder under reports/runs/ where this release wrote it (snapshot_reports), else None: the
    use case (orchestration.release) then rebuilds the report index."""
    info = read(package_info(root))
    registry = Registry(root / params.registry.dir)
    entry = registry.by_model_tag(info["model_tag"])
    new = entry is None
    if new:
        entry = register_new(params, root, registry, info["model_tag"], alert)
    made, stale = complete(params, registry, entry)
    version = entry["version"]
    reports = None
    if new or made or not (run_dir(root, version) / "run.json").is_file():  # or one that died before its snapshot
        reports = str(snapshot_reports(root, registry, entry))
    return {"version": version, "new": new, "blessed": entry["blessed"],
            "promoted": any(r["alias"] == CHAMPION for r in made),
            "rollout": next((r["rollout"] for r in made if r["alias"] == CANDIDATE), None),
            "blessing": Blessing.read(registry.blessing_path(version)), "note": release_note(new, made, stale),
            "reports": reports}


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
    write_json(registry.blessing_path(version), final.to_json())
    write_card(registry, version, card | {"gate": final.to_json(), "infra_check": final.infra})
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
            made.append(registry.move(CHALLENGER, version, "the newest registered version"))
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
    return root / RUNS_DIR / version


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
