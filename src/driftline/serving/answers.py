"""What the service answers for each task, and the way back to Predictor.predict's columns.

One record's answer (its id aside) is, by task:
- binary: {"probability": p of the positive label, "label": the decided label}
- multiclass: {"label": the most probable class, "probabilities": {class: p}}
- regression: {"prediction": y, "interval": [lower, upper]}

The service answers these, the inference log stores them (log.logged) and reads them back as
`task.output_columns`, and the release's load-and-query check compares them with offline scoring.
"""

from __future__ import annotations

import numpy as np

from driftline.core.task import Task

ANSWER_FIELDS = {  # each answer's fields and their JSON types: the service's response model
    "binary": {"probability": float, "label": str},
    "multiclass": {"label": str, "probabilities": dict[str, float]},
    "regression": {"prediction": float, "interval": tuple[float, float]},
}
# An explanation's fields (core.explain: Explainer.explain_columns) before its base value and attributions:
# the answer, and the raw output they add up to (core.explain.EXPLAINED)
EXPLANATION_FIELDS = {
    "binary": {"probability": float, "logit": float},
    "multiclass": {"label": str, "probability": float, "logit": float},
    "regression": {"prediction": float, "link": str, "output": float},
}


def answer_records(task: Task, answers: dict[str, np.ndarray]) -> list[dict]:
    """Each row of the task's ANSWERS (core.task: decode) as the service answers it."""
    if task.kind == "binary":
        return [{"probability": p, "label": label}
                for p, label in zip(answers["probability"].tolist(), answers["label"].tolist())]
    if task.kind == "multiclass":
        return [{"label": label, "probabilities": dict(zip(task.classes, p))}
                for label, p in zip(answers["label"].tolist(), answers["probabilities"].tolist())]
    return [{"prediction": y, "interval": [lower, upper]}
            for y, lower, upper in zip(*(answers[k].tolist() for k in ("prediction", "lower", "upper")))]


def answer_columns(task: Task, records: list[dict]) -> dict[str, list]:
    """RECORDS' answers (as answer_records gives them) as Predictor.predict's columns (task.output_columns), in
    order; None where a record lacks a value (a record answered for another task)."""
    if task.kind == "binary":
        return {"probability": [r.get("probability") for r in records], "label": [r.get("label") for r in records]}
    if task.kind == "multiclass":
        spread = [r.get("probabilities") or {} for r in records]
        return ({"label": [r.get("label") for r in records],
                 "probability": [p.get(r.get("label")) for r, p in zip(records, spread)]}
                | {name: [p.get(c) for p in spread] for name, c in zip(task.probability_columns, task.classes)})
    intervals = [r.get("interval") or (None, None) for r in records]
    return {"prediction": [r.get("prediction") for r in records],
            "lower": [i[0] for i in intervals], "upper": [i[1] for i in intervals]}
