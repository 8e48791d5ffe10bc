"""The ledger: one timeline of what happened to the data and the models, read from the records the stages already
write, so it keeps no copy of its own and can never disagree with them.

Its sources: the batches ingest stored (<data.dir>/batches/<stamp>-<name>.csv) and those it quarantined
(<quarantine_dir>/<stamp>-<name>/report.json); the contract of each release's data (its snapshot
reports/runs/<version>/docs/) and the validate stage's latest result; the registry's versions (training runs,
a retraining one carrying the `trigger` of its alert), blessings (gate verdicts), history.jsonl (alias moves, and
the candidate's moves that start and end a rollout) and decisions/<version>/<stamp>.json (rollout decisions); and
the monitoring's alert records under reports/alerts/.

Each entry is {time (ISO, UTC), kind, subject (a version or a batch), summary (one line), evidence (a path
relative to the project root)}; an alert also has its event id (`event`), and the retraining run it triggered
the alert's record (`alert`). Entries are in time order; within the same moment, in the order the story is told
(RANK), and records of one file in its order.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from driftline.config import Params
from driftline.core.artifacts import data_version, stage_file
from driftline.core.layout import ALERTS_DIR, BATCH_STAMP, DECISIONS_DIR, RUNS_DIR
from driftline.errors import ConfigError
from driftline.registry.store import CANDIDATE, Registry
from driftline.release.blessing import Blessing
from driftline.release.rollout_decision import RolloutDecision

Record = TypeVar("Record", bound=BaseModel)
# Within one moment: data before the model trained on it, the gate after the training, the alias moves after the
# gate. The history's alias and rollout records share a rank, so that they keep the order history.jsonl gives them.
RANK = {"data": 0, "quarantine": 0, "contract": 1, "alert": 2, "training": 3, "retrain": 3, "gate": 4,
        "decision": 5, "alias": 6, "rollout": 6}

log = logging.getLogger(__name__)


def ledger(params: Params, root: Path = Path("."), since: datetime | None = None) -> list[dict]:
    """Every entry of the project at ROOT (configured by PARAMS) in time order, from SINCE on when given (a naive
    SINCE is UTC)."""
    registry = Registry(root / params.registry.dir)  # a RegistryError where registry.json cannot be read
    history = registry.history()  # what registry.json committed: a torn last line is left out, with a warning
    alerts = alert_entries(root)
    found = (batch_entries(root, params) + quarantine_entries(root, params)
             + contract_entries(root, registry, data_version(root, params.data.dir)) + alerts
             + training_entries(root, registry, alerts) + gate_entries(root, registry)
             + history_entries(root, registry, history) + decision_entries(root, registry))
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        found = [item for item in found if item["time"] >= since]
    ordered = sorted(enumerate(found), key=lambda pair: (pair[1]["time"], RANK[pair[1]["kind"]], pair[0]))
    return [item | {"time": item["time"].isoformat()} for _, item in ordered]


def entry(time: datetime, kind: str, subject: object, summary: str, evidence: Path | str | None,
          root: Path, **extra) -> dict:
    """One ledger entry; EVIDENCE as a path relative to ROOT (as given when it lies elsewhere)."""
    return {"time": time, "kind": kind, "subject": str(subject), "summary": summary,
            "evidence": None if evidence is None else relative(Path(evidence), root), **extra}


def relative(path: Path, root: Path) -> str:
    """PATH relative to ROOT in POSIX form, or PATH itself when it is not under ROOT."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def utc(value: object) -> datetime | None:
    """An ISO time (extended or basic, naive taken as UTC) or ingest's stamp, in UTC; None when unreadable."""
    text = str(value)
    for parse in (datetime.fromisoformat, lambda t: datetime.strptime(t, BATCH_STAMP)):
        try:
            moment = parse(text)
        except ValueError:
            continue
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return None


def read_json(path: Path) -> dict | None:
    """A JSON object from PATH, or None (logged) when unreadable or something else: one bad record must not hide
    the rest of the ledger."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("skipping %s: %s", path, error)
        return None
    return data if isinstance(data, dict) else None


def read_record(path: Path, model: type[Record]) -> Record | None:
    """PATH's record as MODEL (a blessing, a rollout decision), or None (logged) when unreadable or not one."""
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
        log.warning("skipping %s: %s", path, error)
        return None


def stamped(name: str) -> tuple[datetime | None, str]:
    """The time and the batch name of ingest's <stamp>-<name>."""
    stamp, _, batch = name.partition("-")
    return utc(stamp) if re.fullmatch(r"\d{8}T\d{12,}Z", stamp) else None, batch


def batch_entries(root: Path, params: Params) -> list[dict]:
    """The batches that passed the contract and were stored as a new data version."""
    found = []
    for path in sorted((root / params.data.dir / "batches").glob("*.csv")):
        moment, name = stamped(path.stem)
        if moment is not None:
            found.append(entry(moment, "data", name, f"batch {name} passed the contract and was added to "
                                                      f"{params.data.dir} (a new data version)", path, root))
    return found


def quarantine_entries(root: Path, params: Params) -> list[dict]:
    """The batches that the contract refused, with their first problem."""
    folder = root / params.ingest.quarantine_dir
    found = []
    for batch in sorted(folder.iterdir()) if folder.is_dir() else []:
        moment, name = stamped(batch.name)
        report = read_json(batch / "report.json") if moment is not None else None
        if report is None:
            continue
        problems = [str(p) for p in report.get("problems") or []]
        first = f": {problems[0].splitlines()[0]}" if problems else ""
        found.append(entry(moment, "quarantine", name, f"batch {name} quarantined, {len(problems)} problem(s)"
                                                       f"{first}", batch / "report.json", root))
    return found


def contract_entries(root: Path, registry: Registry, data: str | None) -> list[dict]:
    """The contract that each released version's data passed (its Data Docs, snapshotted by the release), and
    the validate stage's latest result unless it passed on DATA (the data folder's md5) that a version was
    trained on, which that version's entry shows already."""
    found = []
    for version in registry.versions:
        docs, moment = root / RUNS_DIR / version["version"] / "docs" / "index.html", utc(version.get("created"))
        if docs.is_file() and moment is not None:
            found.append(entry(moment, "contract", version["version"], f"contract passed on data "
                                                                        f"{short(version.get('data_version'))}",
                               docs, root))
    try:
        result_path = stage_file(root, "validate", "result.json")
    except (ConfigError, OSError, KeyError):  # a folder without dvc.yaml: no stage results to read
        return found
    result = read_json(result_path) if result_path.is_file() else None
    if result is None or (result.get("success") and data in {v.get("data_version") for v in registry.versions}):
        return found
    figures = result.get("statistics") or {}
    verdict = "passed" if result.get("success") else (
        f"failed {figures.get('unsuccessful_expectations', '?')} of {figures.get('evaluated_expectations', '?')} "
        "expectations")
    moment = datetime.fromtimestamp(result_path.stat().st_mtime, timezone.utc)  # GE's result carries no time
    return found + [entry(moment, "contract", short(data), f"contract {verdict} on data {short(data)} (the "
                                                           "validate stage's latest result)", result_path, root)]


def short(md5: object) -> str:
    """A data version's md5, shortened as git shortens a commit."""
    return str(md5)[:8] if md5 else "unknown"


def primary_metric(version: dict) -> str | None:
    """The metric the release judged VERSION by first: the one it recorded a baseline of (`baseline_<metric>`)."""
    return next((key.removeprefix("baseline_") for key in version if key.startswith("baseline_")), None)


def training_entries(root: Path, registry: Registry, alerts: list[dict]) -> list[dict]:
    """Each registered version's training run; one with a `trigger` is a retraining run, linked to its alert."""
    by_event = {alert["event"]: alert for alert in alerts}
    found = []
    for version in registry.versions:
        moment = utc(version.get("created"))
        if moment is None:
            continue
        name, metric = version["version"], primary_metric(version)
        epochs = version.get("training_epochs") or {}
        commit = str(version.get("git_commit") or "unknown")[:7] + (" (dirty)" if version.get("git_dirty") else "")
        value = (version.get("metrics") or {}).get(metric)
        scored = f", test {metric} {value:.4f}" if isinstance(value, (int, float)) else ""
        trained = (f"trained on data {short(version.get('data_version'))} at commit {commit}{scored}, "
                   f"{epochs.get('epochs', '?')} epoch(s) (best {epochs.get('best_epoch', '?')})")
        page = root / RUNS_DIR / name / "index.html"
        evidence = page if page.is_file() else registry.card_path(name)
        trigger = version.get("trigger")
        if not isinstance(trigger, dict):
            found.append(entry(moment, "training", name, trained, evidence, root))
            continue
        alert = by_event.get(trigger.get("event")) if trigger.get("event") else None
        if alert is not None:
            alert["summary"] += f"; retrained as version {name}"
        cause = alert["evidence"] if alert else relative(Path(str(trigger.get("alert"))), root)
        found.append(entry(moment, "retrain", name, f"retrained on alert {trigger.get('event')}: {trained}",
                           evidence, root, alert=cause))
    return found


def gate_entries(root: Path, registry: Registry) -> list[dict]:
    """The gate's verdict on each registered version (its blessing)."""
    found = []
    for version in registry.versions:
        path = registry.blessing_path(version["version"])
        blessing = read_record(path, Blessing) if path.is_file() else None
        moment = utc(blessing and blessing.created or version.get("created"))
        if blessing is None or moment is None:
            continue
        summary = (f"blessed: {len(blessing.checks)} check(s) passed" if blessing.blessed else
                   f"not blessed: failed {', '.join(blessing.failed) or 'a check'}")
        found.append(entry(moment, "gate", version["version"], summary, path, root))
    return found


def history_entries(root: Path, registry: Registry, history: list[dict]) -> list[dict]:
    """The alias moves of HISTORY (history.jsonl); the candidate's, which carry the rollout, start and end
    rollouts."""
    found = []
    for record in history:
        moment = utc(record.get("time")) if isinstance(record, dict) else None
        if moment is None:
            log.warning("the ledger skips a history record without a readable time: %s", record)
            continue
        alias, before, after = record.get("alias"), record.get("from"), record.get("to")
        reason, rollout = record.get("reason", ""), record.get("rollout")
        if alias == CANDIDATE and isinstance(rollout, dict):
            share = rollout.get("canary_share")
            shown = f"{rollout.get('mode')} rollout" + (f" ({share:.0%})" if isinstance(share, float) else "")
            summary = (f"{shown} of {after} beside champion {rollout.get('champion')} started: {reason}"
                       if after is not None else f"{shown} of {before} ended: {reason}")
            found.append(entry(moment, "rollout", after or before, summary, registry.history_path, root))
            continue
        forced = " (forced past the gate)" if record.get("forced") else ""
        summary = (f"{alias} {before} removed: {reason}" if after is None else
                   f"{alias}: {before or 'none'} -> {after}{forced}: {reason}")
        found.append(entry(moment, "alias", after or before, summary, registry.history_path, root))
    return found


def decision_entries(root: Path, registry: Registry) -> list[dict]:
    """The decisions of `rollout decide` (promote, wait, rollback) with their reasons."""
    found = []
    for path in sorted((registry.dir / DECISIONS_DIR).glob("*/*.json")):
        decision = read_record(path, RolloutDecision)
        moment = utc(decision and decision.time)
        if decision is None or moment is None:
            continue
        reasons = decision.reasons
        summary = (f"{decision.outcome} {decision.version} ({decision.mode} beside champion {decision.champion})"
                   + (f": {'; '.join(reasons)}" if reasons else ""))
        found.append(entry(moment, "decision", decision.version, summary, path, root))
    return found


def alert_entries(root: Path) -> list[dict]:
    """The monitoring's alerts, each with the rules that fired and its event id (`event`), which a retraining
    run's trigger names."""
    found = []
    for path in sorted((root / ALERTS_DIR).glob("*.json")):
        alert = read_json(path)
        moment = utc((alert or {}).get("raised"))
        if alert is None or moment is None:
            continue
        rules = [str(f.get("rule")) for f in alert.get("findings") or [] if isinstance(f, dict)]
        summary = f"{len(rules)} rule(s) fired on {alert.get('batch')}: {', '.join(rules)}"
        found.append(entry(moment, "alert", alert.get("model_version"), summary, path, root,
                           event=(alert.get("event") or {}).get("id")))
    return found
