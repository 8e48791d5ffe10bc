"""Model cards: JSON with the Model Card Toolkit's field names, markdown in Hugging Face's section order."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version as package_version

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score, root_mean_squared_error

from driftline.core.encoding import TargetScale
from driftline.schema import Schema

PACKAGES = ("torch", "lightning", "scikit-learn", "pandas", "bentoml", "evidently", "great-expectations")
OUTPUT_FORMAT = {"binary": "probability of the positive label and the decided label",
                 "multiclass": "the decided label, its probability and one probability per class",
                 "regression": "the prediction and its prediction interval's lower and upper bounds"}


def primary_metric(task: str, y: np.ndarray, scores: np.ndarray) -> float:
    """The task's primary metric (core.metrics.PRIMARY) of one model's SCORES: the positive probability's ROC AUC
    (binary), the log loss of class probabilities (rows, classes) (multiclass), the predictions' RMSE
    (regression)."""
    if task == "binary":
        return roc_auc_score(y, scores)
    if task == "multiclass":
        return log_loss(y, scores, labels=np.arange(scores.shape[1]))
    return root_mean_squared_error(y, scores)


def bootstrap_intervals(task: str, y: np.ndarray, scores: dict[str, np.ndarray], rounds: int,
                        seed: int = 0) -> dict[str, list]:
    """95% paired-bootstrap intervals of the task's primary metric for each model, and of each model's value
    minus the first's."""
    rng = np.random.default_rng(seed)
    names = list(scores)
    draws = {name: [] for name in names} | {f"{n} - {names[0]}": [] for n in names[1:]}
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        if task == "binary" and len(np.unique(y[index])) < 2:  # AUC ranks one label against the other
            continue
        values = {n: primary_metric(task, y[index], scores[n][index]) for n in names}
        for n in names:
            draws[n].append(values[n])
        for n in names[1:]:
            draws[f"{n} - {names[0]}"].append(values[n] - values[names[0]])
    return {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for k, v in draws.items()}


def overview(schema: Schema, decision: dict) -> str:
    """What the model predicts, in one sentence."""
    if schema.task == "binary":
        return f"Binary classifier of '{schema.target}' = '{schema.positive_label}'."
    if schema.task == "multiclass":
        return (f"Multiclass classifier of '{schema.target}' into {len(schema.classes)} classes: "
                f"{', '.join(schema.classes)}.")
    spec = schema.columns[schema.target]
    return (f"Regression of '{schema.target}' ({spec.type}, in its own units; declared range {spec.min} to "
            f"{spec.max}), with a {decision['interval']['level']:.0%} prediction interval.")


def decision_text(schema: Schema, decision: dict, tolerance: float) -> str:
    """How the answers are decided from the network's outputs, with what was fitted on validation."""
    if schema.task == "binary":
        return (f"threshold {decision['threshold']:.6f}: the median of the cuts within "
                f"{tolerance} of the best {decision['objective']} on validation")
    if schema.task == "multiclass":
        return (f"the most probable class, by probabilities at temperature {decision.get('temperature', 1.0):.4f} "
                "(fitted on validation)")
    interval = decision["interval"]
    return (f"the prediction, within a split-conformal {interval['level']:.0%} interval of half-width "
            f"{interval['half_width']:.4f} (the validation residuals' quantile, on the target's link scale)")


def environment() -> dict:
    return {"python": platform.python_version()} | {p: package_version(p) for p in PACKAGES}


def card_json(entry: dict, facts: dict) -> dict:
    """The card as JSON, keyed as the Model Card Toolkit's schema (model_details, quantitative_analysis...)."""
    intervals = facts["intervals"]
    metrics = []
    for model, values in facts["comparison"].items():
        for name, value in values.items():
            item = {"type": name if model == "candidate" else f"{model} {name}", "value": value, "slice": "test split"}
            if name == facts["primary"] and model in intervals:
                item["confidence_interval"] = dict(zip(("lower_bound", "upper_bound"), intervals[model]))
            metrics.append(item)
    for member, values in facts.get("members", {}).items():  # each member alone, as evaluate scored it
        metrics += [{"type": f"{member} alone {name}", "value": value, "slice": "test split"}
                    for name, value in values.items()]
    return {
        "model_details": {
            "name": entry["model_tag"], "overview": facts["overview"],
            "version": {"name": entry["version"], "date": entry["created"]},
            "references": [{"reference": f"git {entry['git_commit']}{' (dirty tree)' if entry['git_dirty'] else ''}"}],
        },
        "model_parameters": {
            "model_architecture": facts["architecture"],
            "data": {"train": {"name": facts["data"]["name"], "version": entry["data_version"],
                               "rows": facts["data"]["train_rows"], "origin": facts["data"]["origin"]},
                     "eval": {"name": "test split", "rows": facts["data"]["test_rows"]}},
            "input_format": "one JSON object per record, one key per feature (null for missing)",
            "output_format": facts["output_format"],
        },
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "decision": facts["decision"],
            "fairness": facts["fairness"],
            "top_features": facts["top_features"],
            "primary_metric": facts["primary"],
            "confidence_intervals": intervals,
        },
        "considerations": {
            "use_cases": [{"description": facts["intended_use"]}],
            "out_of_scope_uses": [{"description": facts["out_of_scope"]}],
            "limitations": [{"description": text} for text in facts["limitations"]],
            "ethical_considerations": [{"name": "fairness", "mitigation_strategy": facts["fairness_policy"]}],
        },
        "gate": facts["blessing"],
        "infra_check": facts["infra"],
        "monitoring": facts["monitoring"],
        "training": {"epochs": entry["training_epochs"], "selected_by": facts["selected_by"],
                     "blend": entry.get("blend"), "target_link": facts.get("target_link"),
                     "environment": environment()},
    }


def interval(bounds: dict | None) -> str:
    return "" if bounds is None else f"{bounds['lower_bound']:.4f} to {bounds['upper_bound']:.4f}"


def cell(value, whole: bool) -> str:
    """A fairness table's cell: a count WHOLE, a rate or gap to three decimals, a missing value (NaN, None) as
    n/a, anything else as it is."""
    if value is None or value != value:
        return "n/a"
    if isinstance(value, bool):  # a regression's `worst` group
        return "yes" if value else ""
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:.0f}" if whole else f"{value:.3f}"


def fairness_table(fairness: dict[str, dict[str, dict]]) -> list[str]:
    """Markdown rows of the audit's per-group tables, one column per value the audit reports for the task; a
    column of whole numbers only, some above 1, is a count (rates of 0 and 1 only are still rates)."""
    tables = [(attr, group, t) for attr, groups in fairness.items() for group, t in groups.items()]
    if not tables:
        return ["No sensitive attributes are declared (schema.sensitive): there are no groups to compare."]
    columns = list(dict.fromkeys(k for _, _, t in tables for k in t if k != "gated"))
    whole = {c: all(isinstance(t.get(c), int | float) and float(t[c]).is_integer() for _, _, t in tables)
             and any(abs(t[c]) > 1 for _, _, t in tables) for c in columns}
    return [
        "| attribute | group | " + " | ".join(columns) + " | gated |", "|---" * (len(columns) + 3) + "|",
        *[f"| {attr} | {group} | " + " | ".join(cell(t.get(c), whole[c]) for c in columns)
          + f" | {'yes' if t['gated'] else 'no (too few rows)'} |" for attr, group, t in tables],
    ]


def blend_text(blend: dict | None) -> str:
    """The members' weights in one phrase: "deep 0.52 + boost 0.48"; "" for a card from before blends."""
    return "" if not blend else " + ".join(f"{name} {weight:.2f}" for name, weight in blend["weights"].items())


def blend_lines(blend: dict | None) -> list[str]:
    """The card's line on the blend: its weights, and the validation scores that chose them."""
    if not blend or "metric" not in blend:
        return []
    scores = ", ".join(f"{'blend' if name == 'model' else name} {value:.4f}"
                       for name, value in blend["validation"].items())
    return [f"- Blend: {blend_text(blend)} of the raw outputs, chosen on validation {blend['metric']} "
            f"(greedy ensemble selection; {scores})"]


LINK_TEXT = {"identity": "the target standardised, squared error", "log": "log(target) standardised, squared error",
             "log1p": "log(1 + target) standardised, squared error", "poisson": "a log link and the Poisson loss"}


def link_lines(scale: dict | None) -> list[str]:
    """The card's line on a regression target's link (transform.json's target), and the validation RMSE of each
    link tried where it was chosen; none for a classifier."""
    if not scale:
        return []
    target = TargetScale.from_json(scale)  # a transform from before links too
    link, tried = target.link, target.validation
    chosen = (f", chosen on validation RMSE ({', '.join(f'{name} {value:.4f}' for name, value in tried.items())})"
              if tried else "")
    return [f"- Target: {link} ({LINK_TEXT[link]}), in both members{chosen}"]


def card_markdown(card: dict) -> str:
    """The card as markdown, in Hugging Face's order: details, uses, bias and limitations, training, evaluation."""
    details, quant, cons = card["model_details"], card["quantitative_analysis"], card["considerations"]
    data = card["model_parameters"]["data"]
    lines = [
        f"# Model card: {details['name']}", "",
        "## Model details", "",
        f"- Version: `{details['version']['name']}`, registered {details['version']['date']}",
        f"- Architecture: {card['model_parameters']['model_architecture']}",
        f"- Lineage: {details['references'][0]['reference']}", f"- {details['overview']}",
        f"- Output: {card['model_parameters']['output_format']}", "",
        "## Uses", "", f"**Intended use.** {cons['use_cases'][0]['description']}", "",
        f"**Out of scope.** {cons['out_of_scope_uses'][0]['description']}", "",
        "## Bias, risks and limitations", "",
        *[f"- {item['description']}" for item in cons["limitations"]],
        f"- Fairness policy: {cons['ethical_considerations'][0]['mitigation_strategy']}", "",
        "## Training details", "",
        f"- Data: {data['train']['name']}, version `{data['train']['version']}`, {data['train']['rows']} training rows",
        f"- Data origin: {data['train']['origin']}",
        f"- Training: {card['training']['epochs']['epochs']} epochs, weights of epoch "
        f"{card['training']['epochs']['best_epoch']} ({card['training']['selected_by']})",
        *blend_lines(card["training"].get("blend")), *link_lines(card["training"].get("target_link")), "",
        "## Evaluation", "",
        f"Test split: {data['eval']['rows']} rows. Decision: {quant['decision']}.", "",
        "| metric | value | 95% interval |", "|---|---|---|",
        *[f"| {m['type']} | {m['value']:.4f} | {interval(m.get('confidence_interval'))} |"
          for m in quant["performance_metrics"]],
        "", f"Paired-bootstrap intervals of {quant['primary_metric']} differences: "
        + "; ".join(f"{k}: {lo:.4f} to {hi:.4f}"
                    for k, (lo, hi) in quant["confidence_intervals"].items() if " - " in k),
        "", "### Fairness by group", "", *fairness_table(quant["fairness"]),
        "", "### Top features (mean |SHAP|)", "",
        *[f"- {name}: {value:.4f}" for name, value in quant["top_features"].items()],
        "", "### Gate", "", f"Blessed: **{card['gate']['blessed']}**", "",
        "| check | value | threshold | passed |", "|---|---|---|---|",
        *[f"| {c['name']} | {c['value'] if c['value'] is None else round(c['value'], 4)} | {c['threshold']} "
          f"| {'yes' if c['passed'] else 'NO'} |" for c in card["gate"]["checks"]],
        "", f"Infra check: {json.dumps(card['infra_check'])}", "",
        "## Monitoring", "", f"{json.dumps(card['monitoring'])}", "",
        "## Technical specifications", "",
        *[f"- {name} {value}" for name, value in card["training"]["environment"].items()], "",
    ]
    return "\n".join(lines)
