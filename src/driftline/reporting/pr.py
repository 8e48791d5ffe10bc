"""The pull request's report: the candidate in the workspace against the base revision, as markdown and PNGs.

It reads what the stages already wrote (metrics/, plots/, artifacts/) and what the base revision kept: its
metrics and plot data from git (dvc.yaml declares them `cache: false`), its DVC outputs from the cache or the
remote, and its model as the registry's champion (registry/ is in git, so the base's champion is this one).
Nothing is trained and nothing is registered: a report never moves an alias.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

from driftline.config import Params
from driftline.core.artifacts import run_dvc, splits_dir, stage_file
from driftline.core.blend import MEMBERS, decision_blend
from driftline.core.metrics import PRIMARY
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.errors import ConfigError, DriftlineError
from driftline.registry.store import CHAMPION, Registry
from driftline.release.blessing import Blessing
from driftline.release.card import blend_lines, bootstrap_intervals
from driftline.release.gate import blessing
from driftline.release.judge import champion_comparison, metrics_of, stored_scores
from driftline.reporting import pr_markdown as md
from driftline.reporting.pr_plots import render

TOP_FEATURES = 5


def base_commit(root: Path, base: str) -> str:
    """The commit hash BASE names, as git resolves it; anything else (an unknown name, a tree or a blob, text
    that git would read as an option) is refused. Only the hash reaches git and DVC after this, so nothing a
    user passes as a base can become an option of theirs."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}"],
                          cwd=root, capture_output=True, text=True, check=False)
    if done.returncode:
        why = f" ({done.stderr.strip()})" if done.stderr.strip() else ""  # not a git repository, say
        raise ConfigError(f"--base {base!r} is not a commit of the git repository at {root.resolve()}{why}: give "
                          "a branch, tag or commit, such as origin/main or HEAD~1")
    return done.stdout.strip()


def metrics_diff(root: Path, base: str) -> dict[str, dict[str, dict]]:
    """`dvc metrics diff BASE --all --json`: every metric of the workspace beside the base's (BASE a commit hash)."""
    done = run_dvc(root, "metrics", "diff", base, "--all", "--json")
    if done.returncode:
        raise ConfigError(f"dvc metrics diff {base} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout or "{}")


def base_text(root: Path, base: str, path: str) -> str | None:
    """A file as the base revision holds it: from git where it is committed (metrics, plot data), else from
    DVC's cache or remote (a stage's output); None where neither has it (a file the base did not write)."""
    shown = subprocess.run(["git", "show", f"{base}:{path}"], cwd=root, capture_output=True, text=True,
                           check=False)
    if shown.returncode == 0:
        return shown.stdout
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        return dvc.api.read(path, repo=str(root.resolve()), rev=base)
    except (DvcException, OSError):  # not in the cache nor the remote: the report goes on without it
        return None


def base_json(root: Path, base: str, path: Path) -> dict | None:
    text = base_text(root, base, str(path.relative_to(root)))
    return None if text is None else json.loads(text)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def scored(params: Params, root: Path) -> dict:
    """The candidate's test metrics and scores beside the baseline's and dummy's (evaluate's outputs) and the
    champion's on the same test split, scored as the release scores it; "champion_note" says why it is absent."""
    task = Task.of(params.schema)
    scores = pd.read_parquet(stage_file(root, "evaluate", "scores.parquet"))
    evaluation = read(stage_file(root, "evaluate", "evaluate.json"))
    comparison = {name: metrics_of(evaluation, prefix, task.kind)
                  for name, prefix in (("candidate", ""), ("baseline", "baseline_"), ("dummy", "dummy_"))}
    predictions = {"candidate": stored_scores(scores, "model", task)}
    y = scores["target"].to_numpy()
    registry = Registry(root / params.registry.dir)
    note = None
    if CHAMPION not in registry.aliases:
        note = "There is no champion in the registry: the candidate is the first model, with nothing to beat."
    else:
        try:
            compared = champion_comparison(registry, load_split(splits_dir(root), "test"), y, params)
        except DriftlineError as exc:
            compared, note = None, f"The champion could not be scored here: {exc}"
        if compared is None:
            note = note or "The champion predicts another target or task: no metric compares the two."
        else:
            predictions["champion"], comparison["champion"] = compared
    return {"task": task, "y": y, "comparison": comparison, "predictions": predictions, "champion_note": note}


def intervals(params: Params, facts: dict) -> dict[str, list]:
    """Paired-bootstrap intervals of the primary metric: the champion's, the candidate's and their difference
    (card.bootstrap_intervals puts the first model's value under each later one's)."""
    predictions = facts["predictions"]
    ordered = {name: predictions[name] for name in ("champion", "candidate") if name in predictions}
    return bootstrap_intervals(facts["task"].kind, facts["y"], ordered, params.gate.bootstrap_rounds)


def verdict(params: Params, root: Path, facts: dict, verdict_path: Path | None) -> tuple[Blessing, str]:
    """The gate's verdict and where it came from: the dry run's file where it exists (it has the infra check
    too), else the gate's own checks on the same numbers, registering nothing."""
    if verdict_path is not None and verdict_path.is_file():
        found = read(verdict_path)
        source = f"From `{verdict_path}` (`driftline release --dry-run`)."
        return Blessing.model_validate(found.get("blessing", found)), source
    gaps = read(stage_file(root, "audit", "audit.json"))
    task = facts["task"]
    scores = pd.read_parquet(stage_file(root, "evaluate", "scores.parquet"))
    paired = {name: stored_scores(scores, column, task) for name, column in (("candidate", "model"),
                                                                               ("baseline", "baseline"))}
    intervals = bootstrap_intervals(task.kind, facts["y"], paired, params.gate.bootstrap_rounds)
    computed = blessing(task, facts["comparison"], gaps, params.gate, intervals)
    return computed, "Computed by the gate for this report; the infra check runs in `driftline release`."


def comparison_lines(facts: dict, bounds: dict[str, list]) -> list[str]:
    """The primary metric of each model on the candidate's test split, then the bootstrap's intervals."""
    primary = PRIMARY[facts["task"].kind]
    values = {name: metrics.get(primary) for name, metrics in facts["comparison"].items()}
    lines = [f"{primary} on the candidate's test split: "
             + ", ".join(f"{name} {md.number(value)}" for name, value in values.items()) + ".", ""]
    if facts["champion_note"]:
        lines += [facts["champion_note"], ""]
    return lines + md.intervals_table(bounds, primary)


def blend_section(root: Path, task: Task) -> list[str]:
    """The members' weights and validation scores (the decision's blend), and each member alone on test."""
    blend = decision_blend(read(stage_file(root, "evaluate", "decision.json")))
    evaluation, primary = read(stage_file(root, "evaluate", "evaluate.json")), PRIMARY[task.kind]
    alone = [f"{name} {md.number(evaluation[f'{name}_{primary}'])}" for name in MEMBERS
             if f"{name}_{primary}" in evaluation]
    return [*blend_lines(blend), *([f"- Each member alone, {primary} on test: {', '.join(alone)}"] if alone else [])]


def shap_section(root: Path, base: str) -> list[str]:
    importance = stage_file(root, "audit", "shap_importance.json")
    return md.shap_table(base_json(root, base, importance), read(importance), TOP_FEATURES)


def contract_section(root: Path) -> list[str]:
    result = stage_file(root, "validate", "result.json")
    if not result.is_file():
        return ["The validate stage has not run in this workspace: no contract result."]
    return md.contract_lines(read(result), read(stage_file(root, "validate", "validate.json")))


def write_pr_report(params: Params, root: Path, base: str, out: Path, verdict_path: Path | None = None) -> Path:
    """Write the report against BASE (a git revision) to OUT and its plots to a folder beside it (OUT's name +
    "-plots"); OUT's path. A BASE that is not a commit is refused before anything is read or written."""
    commit = base_commit(root, base)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = out.parent / f"{out.stem}-plots"
    facts = scored(params, root)
    gate, source = verdict(params, root, facts, verdict_path)
    audit = stage_file(root, "audit", "audit.json")
    written = render(root, lambda path: base_text(root, commit, path), folder)
    sections = {
        f"Metrics against {base}": md.metrics_diff_table(metrics_diff(root, commit)),
        "Candidate against the champion": comparison_lines(facts, intervals(params, facts)),
        "The blend": blend_section(root, facts["task"]),
        "Gate": md.gate_table(gate, source),
        f"Top {TOP_FEATURES} features by mean |SHAP|": shap_section(root, commit),
        "Fairness gaps": md.fairness_gaps_table(base_json(root, commit, audit), read(audit)),
        "Data contract": contract_section(root),
        "Plots": md.image_lines({title: f"{folder.name}/{name}" for title, name in written.items()}),
    }
    out.write_text(md.report(f"driftline: this pull request against {base}", sections))
    return out
