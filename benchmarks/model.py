"""Model benchmark: the deep model against the gradient-boosting baseline over several seeds, on one split.

Run from the project root (`make bench-model`, or `python benchmarks/model.py --seeds 5`). Splits the
project's data with params.yaml's featurize settings into a temporary folder, then for each seed trains
the default model and fits the baseline, chooses both thresholds on the validation split, and scores the
test split. Prints tables and records them in benchmarks/results/model.json (benchmarks/record.py): per
seed, test ROC AUC and accuracy of both models and the training time; the means and spreads; a paired
bootstrap 95% interval of the mean AUC difference; and training rows per second beside this machine's
dense matmul throughput, measured in the same run.

The small-data rows: per seed, SMALL_ROWS rows of the project's data run through featurize, train and
evaluate as a project of that size would (so 70% train, 15% validation for every post-hoc choice), with the
cross-validated early stopping of `train.cv_below_rows` and without it, side by side. Both models are then
scored on EXTERNAL_ROWS other rows: 150 test rows cannot tell a calibration error of 0.05 from noise.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from driftline.config import Params, load_params, with_values
from driftline.core.data import coerce, read_dataset
from driftline.core.encoding import Transform
from driftline.core.metrics import calibration_error, choose_threshold
from driftline.core.model import TabularNet
from driftline.core.predictor import raw_outputs
from driftline.core.splits import load_split
from driftline.core.task import Task
from driftline.stages import evaluate, featurize, train
from driftline.stages.evaluate import _as_categories, fit_baseline

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file


def matmul_gflops(size: int = 1024, seconds: float = 2.0) -> float:
    """float32 dense matmul throughput of this machine, with torch's current thread count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        runs += 1
    return 2 * size**3 * runs / (time.perf_counter() - started) / 1e9


def scored(y_val, p_val, y_test, p_test, params: Params) -> dict:
    cut = choose_threshold(y_val, p_val, params.evaluate.threshold_objective, params.evaluate.threshold_tolerance)
    return {"roc_auc": roc_auc_score(y_test, p_test), "accuracy": float(np.mean((p_test >= cut) == y_test)),
            "threshold": cut}


def paired_interval(y: np.ndarray, model: list[np.ndarray], baseline: list[np.ndarray], rounds: int) -> list[float]:
    """95% bootstrap interval of mean-over-seeds (model AUC - baseline AUC), resampling test rows."""
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(rounds):
        index = rng.integers(0, len(y), len(y))
        draws.append(np.mean([roc_auc_score(y[index], m[index]) - roc_auc_score(y[index], b[index])
                              for m, b in zip(model, baseline)]))
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]


SMALL_ROWS, EXTERNAL_ROWS = 1000, 10_000


def small_data(params: Params, seed: int, folds: bool, tmp: Path) -> dict:
    """One small-data run (see the module's docstring): external AUC and calibration error of both models."""
    frame = read_dataset(params.data, params.schema)
    order = np.random.default_rng(seed).permutation(len(frame))
    root = tmp / f"small-{seed}-{folds}"
    (root / "data").mkdir(parents=True)
    frame.iloc[order[:SMALL_ROWS]].to_csv(root / "data" / "sample.csv", index=False)
    external = coerce(frame.iloc[order[SMALL_ROWS:SMALL_ROWS + EXTERNAL_ROWS]], params.schema)
    p = with_values(params, {"data.dir": "data", "featurize.seed": seed, "train.seed": seed,
                             "evaluate.baseline.seed": seed, "train.cv_below_rows": SMALL_ROWS if folds else None})
    art = root / "artifacts"
    featurize.run(p, art / "featurize", art / "featurize.json", root)
    started = time.perf_counter()
    trained = train.run(p, art / "featurize", art / "train", art / "checkpoints", art / "train.json",
                        art / "history.json")
    seconds = time.perf_counter() - started
    evaluate.run(p, art / "featurize", art / "train", art / "decision.json", art / "scores.parquet",
                 art / "evaluate.json", art / "plots")
    task, decision = Task.of(p.schema), json.loads((art / "decision.json").read_text())
    y = task.targets(external)
    ours = task.decode(raw_outputs(TabularNet.load(art / "train"), Transform.load(art / "featurize/transform.json")(
        external)), decision)["probability"]
    baseline = fit_baseline(load_split(art / "featurize", "train"), p.schema, p.evaluate)
    theirs = baseline.predict_proba(_as_categories(external, p.schema))[:, 1]
    bins = p.evaluate.calibration_bins
    return {"seed": seed, "folds": p.train.cv_folds if folds else 1, "roc_auc": roc_auc_score(y, ours),
            "baseline_roc_auc": roc_auc_score(y, theirs),
            "calibration_error": calibration_error(y, ours, bins), "baseline_calibration_error":
            calibration_error(y, theirs, bins), "temperature": decision["temperature"],
            "best_epoch": trained["best_epoch"], "train_s": seconds}


def small_tables(runs: list[dict], params: Params) -> list[dict]:
    columns = ["seed", "folds", "roc_auc", "baseline_roc_auc", "calibration_error", "baseline_calibration_error",
               "temperature", "best_epoch", "train_s"]
    summary = []
    for folds in sorted({r["folds"] for r in runs}, reverse=True):
        mine = [r for r in runs if r["folds"] == folds]
        gaps = [r["roc_auc"] - r["baseline_roc_auc"] for r in mine]
        summary.append([folds, float(np.mean(gaps)), float(np.min(gaps)),
                        float(np.mean([r["calibration_error"] for r in mine])),
                        float(np.mean([r["baseline_calibration_error"] for r in mine])),
                        float(np.mean([r["train_s"] for r in mine]))])
    note = (f"{SMALL_ROWS} rows of the project's data per seed (featurize's split), scored on {EXTERNAL_ROWS:,} "
            f"other rows; folds 1: early stopping on the validation split")
    return [
        record.table(f"Small data ({SMALL_ROWS:,} rows), per seed", columns, [[r[c] for c in columns] for r in runs],
                     note=note),
        record.table(f"Small data ({SMALL_ROWS:,} rows), over seeds", [
            "folds", "AUC - baseline (mean)", "AUC - baseline (worst seed)", "calibration error",
            "baseline calibration error", "train s"], summary),
    ]


def main(seeds: int = typer.Option(5, min=1), first_seed: int = typer.Option(0),
         rounds: int = typer.Option(1000, help="bootstrap rounds"),
         small_seeds: int = typer.Option(5, min=0, help="seeds of the small-data rows (0: none)")) -> None:
    params = load_params()
    small = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(small_seeds):
            small += [small_data(params, seed, folds, Path(tmp)) for folds in (True, False)]
    gflops = matmul_gflops()
    rows, model_scores, baseline_scores = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        splits = Path(tmp, "splits")
        featurize.run(params, splits, Path(tmp, "featurize.json"))
        val, test = load_split(splits, "val"), load_split(splits, "test")
        y_val, y_test = (Task.of(params.schema).targets(f) for f in (val, test))
        train_rows = len(load_split(splits, "train"))
        transform = Transform.load(splits / "transform.json")
        for seed in range(first_seed, first_seed + seeds):
            p = with_values(params, {"train.seed": seed, "evaluate.baseline.seed": seed})
            out = Path(tmp, f"seed-{seed}")
            started = time.perf_counter()
            metrics = train.run(p, splits, out, out / "checkpoints", out / "metrics.json", out / "history.json")
            seconds = time.perf_counter() - started
            model = TabularNet.load(out)
            ours = [expit(raw_outputs(model, transform(f))[:, 0]) for f in (val, test)]
            started = time.perf_counter()
            baseline = fit_baseline(load_split(splits, "train"), p.schema, p.evaluate)
            baseline_seconds = time.perf_counter() - started
            theirs = [baseline.predict_proba(_as_categories(f, p.schema))[:, 1] for f in (val, test)]
            model_scores.append(ours[1])
            baseline_scores.append(theirs[1])
            mine, base = scored(y_val, ours[0], y_test, ours[1], p), scored(y_val, theirs[0], y_test, theirs[1], p)
            rows.append({"seed": seed, "roc_auc": mine["roc_auc"], "accuracy": mine["accuracy"],
                         "baseline_roc_auc": base["roc_auc"], "baseline_accuracy": base["accuracy"],
                         "threshold": mine["threshold"], "epochs": metrics["epochs"],
                         "best_epoch": metrics["best_epoch"], "train_s": seconds, "baseline_fit_s": baseline_seconds,
                         "train_rows_per_s": metrics["epochs"] * train_rows / seconds})
    n_params = sum(t.numel() for t in model.state_dict().values())
    interval = paired_interval(y_test, model_scores, baseline_scores, rounds)
    record.publish("model", tables(rows, interval, gflops, n_params, train_rows, len(test), params)
                   + (small_tables(small, params) if small else []))


KEYS = ["roc_auc", "accuracy", "baseline_roc_auc", "baseline_accuracy", "train_s", "train_rows_per_s"]


def flat(config: dict, prefix: str = "") -> list[list]:
    """A nested configuration as (dotted key, value) rows."""
    return [row for key, value in config.items()
            for row in (flat(value, f"{prefix}{key}.") if isinstance(value, dict) else [[prefix + key, value]])]


def tables(rows: list[dict], interval: list[float], gflops: float, n_params: int, train_rows: int,
           test_rows: int, params: Params) -> list[dict]:
    """The run as the results contract's tables: per seed, over seeds, the differences, throughput, config."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in KEYS}
    std = {k: float(np.std([r[k] for r in rows])) for k in KEYS}
    rate = mean["train_rows_per_s"]
    auc_difference = mean["roc_auc"] - mean["baseline_roc_auc"]
    columns = {"seed": "seed", "roc_auc": "AUC", "accuracy": "accuracy", "baseline_roc_auc": "baseline AUC",
               "baseline_accuracy": "baseline accuracy", "threshold": "threshold", "epochs": "epochs",
               "best_epoch": "best epoch", "train_s": "train s", "baseline_fit_s": "baseline fit s",
               "train_rows_per_s": "train rows/s"}
    return [
        record.table("driftline model vs HistGradientBoosting, per seed (test split)", list(columns.values()),
                     [[r[c] for c in columns] for r in rows],
                     note="both models' thresholds chosen on the validation split"),
        record.table(f"Over {len(rows)} seeds", ["measure", "mean", "sd"],
                     [[columns[k], mean[k], std[k]] for k in KEYS]),
        record.table("Model - baseline", ["measure", "mean", "95% low", "95% high"], [
            ["ROC AUC difference", auc_difference, *interval],
            ["accuracy difference", mean["accuracy"] - mean["baseline_accuracy"], None, None]],
            note="AUC interval: paired bootstrap over test rows of the mean-over-seeds difference"),
        # rows per second per GFLOP/s of dense matmul, and the share of that peak training reaches
        # (about 6 flops per parameter per row for a forward and backward pass)
        record.table("Training throughput", ["measure", "value"], [
            ["train rows/s (mean over seeds)", rate], ["dense float32 matmul GFLOP/s", gflops],
            ["torch threads", torch.get_num_threads()], ["rows per GFLOP", rate / gflops],
            ["share of matmul peak", 6 * n_params * rate / (gflops * 1e9)], ["parameters", n_params],
            ["train rows", train_rows], ["test rows", test_rows]]),
        record.table("Model configuration (params.yaml train)", ["key", "value"],
                     flat(params.train.model_dump(mode="json"))),
    ]


if __name__ == "__main__":
    typer.run(main)
