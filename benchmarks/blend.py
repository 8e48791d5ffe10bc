"""Blend benchmark: the deep member, the boosting member, their blend and HistGradientBoosting on data sets of
every task, each run through the real stages (featurize, train, boost, evaluate) as a project of its own.

Run from the project root (`make bench-blend`, or `python benchmarks/blend.py --seeds 5`). The data sets are
ones a fresh clone can make offline: scikit-learn's bundled tables (breast cancer, wine, digits, diabetes),
two generated ones (a count target with many zeros and a long tail, and a 5-class table), and the project's
own data (Adult by default) over SEEDS training seeds on one split, with paired bootstrap 95% intervals of
the blend's primary-metric gain over each of the others. Every choice (the members' weights, the decision,
the baseline's threshold) is made on the validation split; the figures are on the test split.

Each data set's schema is what `driftline init` infers (core.profile), and its params are params.yaml's. The
members' training times and one record through Predictor.predict_columns in process (one thread, as the
service runs) are measured side by side in the same run. The third table sets the boosting member's
meta-learned defaults against LightGBM's own, on validation and on test (`boost.defaults: auto` keeps the one
with the lower validation loss).

Records benchmarks/results/blend.json (benchmarks/record.py).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine, make_classification

from driftline.config import Params, load_params, with_values
from driftline.core.blend import MEMBERS, Blend
from driftline.core.data import read_text
from driftline.core.encoding import Transform
from driftline.core.metrics import HIGHER_IS_BETTER, PRIMARY, task_metrics
from driftline.core.predictor import Predictor, weights
from driftline.core.profile import profile
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.stages import boost, evaluate, featurize, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file

MODELS = ("model", *MEMBERS, "baseline")  # the blend is evaluate's "model"
NAMES = {"model": "blend", "deep": "deep", "boost": "boost", "baseline": "HGB"}


def sklearn_table(loader: Callable, labels: list[str] | None = None) -> pd.DataFrame:
    """A bundled scikit-learn data set as a frame with a `target` column (class names as text)."""
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    if labels is not None:
        frame["target"] = np.asarray(labels, dtype=object)[frame["target"].to_numpy()]
    return frame


def digits() -> pd.DataFrame:
    frame = sklearn_table(load_digits)
    frame["target"] = "d" + frame["target"].astype(str)
    return frame


def count_table(rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """Visits to a doctor, say: a Poisson count (many zeros, a long tail) of five numbers and a category."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    plan = rng.choice(["basic", "plus", "pro", "none"], rows, p=[0.4, 0.3, 0.2, 0.1])
    effect = pd.Series(plan).map({"basic": 0.0, "plus": 0.4, "pro": 0.8, "none": -0.6}).to_numpy()
    rate = np.exp(-0.8 + 0.7 * x[:, 0] - 0.4 * x[:, 1] + 0.5 * np.tanh(x[:, 2] * x[:, 3]) + effect)
    frame = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(5)]).assign(plan=plan)
    return frame.assign(visits=rng.poisson(rate))


def classes_table(rows: int = 20_000, seed: int = 0) -> pd.DataFrame:
    x, y = make_classification(rows, n_features=12, n_informative=8, n_redundant=2, n_classes=5,
                               n_clusters_per_class=2, class_sep=0.8, random_state=seed)
    frame = pd.DataFrame(x.round(4), columns=[f"f{i}" for i in range(12)])
    return frame.assign(kind=np.asarray(list("abcde"), dtype=object)[y])


DATASETS = {  # name: (the table, its target, the positive label of a binary one, the task where init asks)
    "breast cancer": (lambda: sklearn_table(load_breast_cancer, ["malignant", "benign"]), "target", "malignant", None),
    "wine": (lambda: sklearn_table(load_wine, ["class_0", "class_1", "class_2"]), "target", None, None),
    "digits": (digits, "target", None, None),
    "diabetes": (lambda: sklearn_table(load_diabetes), "target", None, None),
    "counts (generated)": (count_table, "visits", None, "count"),  # 19 values: init asks, --task count
    "5 classes (generated)": (classes_table, "kind", None, None),
}


def project(frame: pd.DataFrame | None, target: str, positive: str | None, task: str | None, base: Params,
            root: Path) -> Params:
    """ROOT as a project of FRAME (None: the project's own data) with init's schema; featurize run there."""
    (root / "data").mkdir(parents=True)
    if frame is None:
        params = with_values(base, {"data.dir": str(base.data.dir.resolve())})
    else:
        frame.to_csv(root / "data" / "table.csv", index=False)
        found = profile(read_text(root / "data" / "table.csv", base.data.na_values), target, positive, task=task)
        params = with_values(base, {"data.dir": str(root / "data"), "schema": found["schema"]})
    featurize.run(params, root / "featurize", root / "featurize.json", root)
    return params


def members_and_blend(params: Params, root: Path, out: str, network: Path | None = None) -> dict:
    """train (unless NETWORK names a trained one), boost and evaluate into ROOT/OUT on ROOT's splits; evaluate's
    metrics, the members' seconds, the decision and the scores."""
    folder = root / out
    started = time.perf_counter()
    if network is None:
        network = folder / "train"
        train.run(params, root / "featurize", network, folder / "checkpoints", folder / "train.json",
                  folder / "history.json")
    deep_s = time.perf_counter() - started
    started = time.perf_counter()
    boosted = boost.run(params, root / "featurize", folder / "boost", folder / "boost.json")
    boost_s = time.perf_counter() - started
    evaluate.run(params, root / "featurize", network, folder / "boost", folder / "decision.json",
                 folder / "scores.parquet", folder / "evaluate.json", folder / "plots")
    return {"metrics": json.loads((folder / "evaluate.json").read_text()), "deep_s": deep_s, "boost_s": boost_s,
            "boost": boosted, "decision": json.loads((folder / "decision.json").read_text()),
            "scores": pd.read_parquet(folder / "scores.parquet"), "folder": folder, "network": network}


def record_ms(params: Params, root: Path, run: dict) -> dict[str, float]:
    """Median milliseconds of one record in process (record.one_record_ms) for the blend as chosen and each
    member alone."""
    transform = Transform.load(root / "featurize" / "transform.json")
    test = load_split(root / "featurize", "test")[params.schema.features]
    timings = {}
    for name, chosen in (("model", weights(run["decision"])), ("deep", {"deep": 1.0}), ("boost", {"boost": 1.0})):
        blend = Blend.load(transform, chosen, run["network"], run["folder"] / "boost")
        predictor = Predictor(blend, transform, params.schema, run["decision"], params.data.na_values, 1)
        timings[name] = record.one_record_ms(predictor, test)
    return timings


def primary_of(metrics: dict, kind: str) -> dict[str, float]:
    primary = PRIMARY[kind]
    return {name: metrics[primary if name == "model" else f"{name}_{primary}"] for name in MODELS}


def paired_gains(task: Task, runs: list[dict], rounds: int) -> dict[str, list[float]]:
    """95% bootstrap intervals, over test rows, of the mean over RUNS of the blend's primary metric minus each
    other model's (signed so that a positive gain is better)."""
    kind, primary = task.kind, PRIMARY[task.kind]
    sign = 1 if HIGHER_IS_BETTER[kind][primary] else -1
    y = runs[0]["scores"]["target"].to_numpy()
    rng = np.random.default_rng(0)
    draws = {name: [] for name in MODELS[1:]}
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        for name in draws:
            gains = [sign * (score(task, y[index], run["scores"].iloc[index], "model", primary)
                             - score(task, y[index], run["scores"].iloc[index], name, primary)) for run in runs]
            draws[name].append(np.mean(gains))
    return {name: [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))] for name, d in draws.items()}


def score(task: Task, y: np.ndarray, scores: pd.DataFrame, name: str, metric: str) -> float:
    """One model's METRIC of evaluate's stored test scores (the classification metrics at a 0.5 threshold:
    the primary metrics do not depend on it)."""
    if task.kind == "multiclass":
        p = scores[[f"{name}_{code}" for code in range(len(task.classes))]].to_numpy()
        answers = {"probabilities": p, "probability": p.max(axis=1)}
    elif task.kind == "binary":
        answers = {"probability": scores[name].to_numpy()}
    else:
        answers = {"prediction": scores[name].to_numpy()}
    return task_metrics(task.kind, y, answers, 10, 0.5)[metric]


def main(seeds: int = typer.Option(5, min=1), rounds: int = typer.Option(500, help="bootstrap rounds"),
         only: list[str] = typer.Option([], help="these data sets only ('project': the project's own)")) -> None:
    base = load_params()
    rows, default_rows, gain_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        chosen = {name: spec for name, spec in DATASETS.items() if not only or name in only}
        plan = [(name, *spec) for name, spec in chosen.items()]
        if not only or "project" in only:
            plan.append((f"{base.data.dir} (the project's)", None, base.schema.target, base.schema.positive_label,
                         None))
        for number, (name, make, target, positive, kind) in enumerate(plan):
            root = Path(tmp) / f"set-{number}"
            params = project(None if make is None else make(), target, positive, kind, base, root)
            task, kind = Task.of(params.schema), params.schema.task
            scale = Transform.load(root / "featurize" / "transform.json").target
            link = "" if scale is None else scale.link
            runs = []
            for seed in range(seeds if make is None else 1):
                p = with_values(params, {"train.seed": seed, "boost.seed": seed, "evaluate.baseline.seed": seed}) \
                    if make is None else params
                runs.append(members_and_blend(p, root, f"seed-{seed}"))
            timing = record_ms(params, root, runs[0])
            for seed, run in enumerate(runs):
                figures, w = primary_of(run["metrics"], kind), weights(run["decision"])
                rows.append([name, kind, link, seed, len(load_split(root / "featurize", "train")), PRIMARY[kind],
                             *(figures[m] for m in MODELS), w.get("deep", 0.0), w.get("boost", 0.0),
                             run["boost"]["folds"], run["deep_s"], run["boost_s"],
                             *(timing[m] for m in ("model", "deep", "boost"))])
            if len(runs) > 1:
                gains = paired_gains(task, runs, rounds)
                means = {m: float(np.mean([primary_of(r["metrics"], kind)[m] for r in runs])) for m in MODELS}
                gain_rows += [[name, PRIMARY[kind], f"blend - {NAMES[m]}", means["model"] - means[m], *gains[m]]
                              for m in MODELS[1:]]
            each = {defaults: members_and_blend(with_values(params, {"boost.defaults": defaults}), root, defaults,
                                               runs[0]["network"]) for defaults in ("td", "lightgbm")}
            loss = next(k for k in runs[0]["boost"] if k.startswith("best_val_"))
            chosen = min(each, key=lambda d: each[d]["boost"][loss])
            default_rows.append([name, loss.removeprefix("best_val_"), *(each[d]["boost"][loss] for d in each),
                                 chosen, PRIMARY[kind], *(each[d]["metrics"][f"boost_{PRIMARY[kind]}"] for d in each),
                                 *(each[d]["boost"]["rounds"] for d in each)])
    record.publish("blend", [
        record.table("The blend, each member and HistGradientBoosting (test split)",
                     ["data set", "task", "link", "seed", "train rows", "metric", "blend", "deep", "boost", "HGB",
                      "weight deep", "weight boost", "folds", "deep train s", "boost train s", "1 record ms blend",
                      "1 record ms deep", "1 record ms boost"], rows,
                     note="weights, decisions, a regression's link and the baseline's threshold chosen on "
                          "validation; primary metric: roc_auc (higher is better), log_loss and rmse (lower is "
                          "better); records on 1 thread"),
        record.table(f"Paired gains of the blend over {seeds} seeds (test split)",
                     ["data set", "metric", "models", "mean gain", "95% low", "95% high"], gain_rows,
                     note="bootstrap over test rows of the mean-over-seeds difference, signed so that > 0 is "
                          "better for the blend; one split, seeds of the members and the baseline"),
        record.table("Boosting member: meta-learned defaults against LightGBM's own (seed 0)",
                     ["data set", "validation loss", "TD", "LightGBM", "auto keeps", "test metric", "TD test",
                      "LightGBM test", "rounds TD", "rounds LightGBM"], default_rows,
                     note="TD: Holzmueller et al. 2024 (pytabkit's LGBM_TD_CLASS / LGBM_TD_REG); LightGBM: "
                          "learning_rate 0.1, num_leaves 31, min_data_in_leaf 20, no bagging, "
                          "min_sum_hessian_in_leaf 1e-3; both early-stopped on validation (out of fold under "
                          "cross-validation); boost.defaults auto keeps the lower validation loss"),
    ])


if __name__ == "__main__":
    typer.run(main)
