"""Model cards: JSON with the Model Card Toolkit's field names, markdown in Hugging Face's section order."""

from __future__ import annotations

import json
import platform
from importlib.metadata import version as package_version

import numpy as np
from sklearn.metrics import roc_auc_score

PACKAGES = ("torch", "lightning", "scikit-learn", "pandas", "bentoml", "evidently", "great-expectations")


def auc_intervals(y: np.ndarray, scores: dict[str, np.ndarray], rounds: int, seed: int = 0) -> dict[str, list]:
    """95% paired-bootstrap intervals of ROC AUC for each model, and of each model's AUC minus the first's."""
    rng = np.random.default_rng(seed)
    names = list(scores)
    draws = {name: [] for name in names} | {f"{n} - {names[0]}": [] for n in names[1:]}
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        if len(np.unique(y[index])) < 2:
            continue
        aucs = {n: roc_auc_score(y[index], scores[n][index]) for n in names}
        for n in names:
            draws[n].append(aucs[n])
        for n in names[1:]:
            draws[f"{n} - {names[0]}"].append(aucs[n] - aucs[names[0]])
    return {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
            for k, v in draws.items()}


def environment() -> dict:
    return {"python": platform.python_version()} | {p: package_version(p) for p in PACKAGES}


def card_json(entry: dict, facts: dict) -> dict:
    """The card as JSON, keyed as the Model Card Toolkit's schema (model_details, quantitative_analysis...)."""
    intervals = facts["intervals"]
    metrics = []
    for model, values in facts["comparison"].items():
        for name, value in values.items():
            item = {"type": name if model == "candidate" else f"{model} {name}", "value": value, "slice": "test split"}
            if name == "roc_auc" and model in intervals:
                item["confidence_interval"] = dict(zip(("lower_bound", "upper_bound"), intervals[model]))
            metrics.append(item)
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
            "output_format": "probability of the positive label and the decided label",
        },
        "quantitative_analysis": {
            "performance_metrics": metrics,
            "decision_threshold": facts["threshold"],
            "fairness": facts["fairness"],
            "top_features": facts["top_features"],
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
        "training": {"epochs": entry["training_epochs"], "environment": environment()},
    }


def interval(bounds: dict | None) -> str:
    return "" if bounds is None else f"{bounds['lower_bound']:.4f} to {bounds['upper_bound']:.4f}"


def card_markdown(card: dict) -> str:
    """The card as markdown, in Hugging Face's order: details, uses, bias and limitations, training, evaluation."""
    details, quant, cons = card["model_details"], card["quantitative_analysis"], card["considerations"]
    data = card["model_parameters"]["data"]
    lines = [
        f"# Model card: {details['name']}", "",
        "## Model details", "",
        f"- Version: `{details['version']['name']}`, registered {details['version']['date']}",
        f"- Architecture: {card['model_parameters']['model_architecture']}",
        f"- Lineage: {details['references'][0]['reference']}", f"- {details['overview']}", "",
        "## Uses", "", f"**Intended use.** {cons['use_cases'][0]['description']}", "",
        f"**Out of scope.** {cons['out_of_scope_uses'][0]['description']}", "",
        "## Bias, risks and limitations", "",
        *[f"- {item['description']}" for item in cons["limitations"]],
        f"- Fairness policy: {cons['ethical_considerations'][0]['mitigation_strategy']}", "",
        "## Training details", "",
        f"- Data: {data['train']['name']}, version `{data['train']['version']}`, {data['train']['rows']} training rows",
        f"- Data origin: {data['train']['origin']}",
        f"- Training: {card['training']['epochs']['epochs']} epochs, weights of epoch "
        f"{card['training']['epochs']['best_epoch']} (best validation AUC)", "",
        "## Evaluation", "",
        f"Test split: {data['eval']['rows']} rows. Decision threshold: {quant['decision_threshold']}.", "",
        "| metric | value | 95% interval |", "|---|---|---|",
        *[f"| {m['type']} | {m['value']:.4f} | {interval(m.get('confidence_interval'))} |"
          for m in quant["performance_metrics"]],
        "", "Paired-bootstrap intervals of AUC differences: "
        + "; ".join(f"{k}: {lo:.4f} to {hi:.4f}"
                    for k, (lo, hi) in quant["confidence_intervals"].items() if " - " in k),
        "", "### Fairness by group", "",
        "| attribute | group | rows | positives | selection rate | TPR | FPR | gated |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {attr} | {group} | {t['count']:.0f} | {t['positives']:.0f} | {t['selection_rate']:.3f} | {t['tpr']:.3f} "
          f"| {t['fpr']:.3f} | {'yes' if t['gated'] else 'no (too few rows)'} |"
          for attr, groups in quant["fairness"].items() for group, t in groups.items()],
        "", "### Top features (mean |SHAP| of the logit)", "",
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
