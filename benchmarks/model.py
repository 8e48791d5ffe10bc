"""Model benchmark: the deep model against the gradient-boosting baseline over several seeds, on one split.

Run from the project root (`make bench-model`, or `python benchmarks/model.py --seeds 5`). Splits the
project's data with params.yaml's featurize settings into a temporary folder, then for each seed trains
the default model and fits the baseline, chooses both thresholds on the validation split, and scores the
test split. Prints a table and writes benchmarks/results/model.json with, per seed, test ROC AUC and
accuracy of both models and the training time; the means and spreads; a paired bootstrap 95% interval of
the mean AUC difference; and training rows per second beside this machine's dense matmul throughput,
measured in the same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from driftline.config import Params, load_params, with_values
from driftline.core.artifacts import write_json
from driftline.core.data import labels
from driftline.core.encoding import Transform
from driftline.core.metrics import choose_threshold
from driftline.core.model import TabularNet
from driftline.core.predictor import probabilities
from driftline.core.splits import load_split
from driftline.stages import featurize, train
from driftline.stages.evaluate import _as_categories, fit_baseline

OUT = Path("benchmarks/results/model.json")


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


def main(seeds: int = typer.Option(5, min=1), first_seed: int = typer.Option(0),
         rounds: int = typer.Option(1000, help="bootstrap rounds")) -> None:
    params = load_params()
    gflops = matmul_gflops()
    rows, model_scores, baseline_scores = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        splits = Path(tmp, "splits")
        featurize.run(params, splits, Path(tmp, "featurize.json"))
        val, test = load_split(splits, "val"), load_split(splits, "test")
        y_val, y_test = labels(val, params.schema), labels(test, params.schema)
        train_rows = len(load_split(splits, "train"))
        transform = Transform.load(splits / "transform.json")
        for seed in range(first_seed, first_seed + seeds):
            p = with_values(params, {"train.seed": seed, "evaluate.baseline.seed": seed})
            out = Path(tmp, f"seed-{seed}")
            started = time.perf_counter()
            metrics = train.run(p, splits, out, out / "checkpoints", out / "metrics.json", out / "history.json")
            seconds = time.perf_counter() - started
            model = TabularNet.load(out)
            ours = [probabilities(model, transform, f) for f in (val, test)]
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
    keys = ["roc_auc", "accuracy", "baseline_roc_auc", "baseline_accuracy", "train_s", "train_rows_per_s"]
    summary = {k: {"mean": float(np.mean([r[k] for r in rows])), "std": float(np.std([r[k] for r in rows]))}
               for k in keys}
    n_params = sum(t.numel() for t in model.state_dict().values())
    rate = summary["train_rows_per_s"]["mean"]
    result = {
        "per_seed": rows, "summary": summary,
        "auc_difference": {"mean": summary["roc_auc"]["mean"] - summary["baseline_roc_auc"]["mean"],
                           "interval_95": paired_interval(y_test, model_scores, baseline_scores, rounds)},
        "accuracy_difference": summary["accuracy"]["mean"] - summary["baseline_accuracy"]["mean"],
        "machine": {"matmul_gflops": gflops, "threads": torch.get_num_threads()},
        "model": {"parameters": n_params, "train_rows": train_rows, "test_rows": len(test),
                  "config": params.train.model_dump(mode="json")},
        # Rows per second per GFLOP/s of dense matmul, and the share of that peak training reaches
        # (about 6 flops per parameter per row for a forward and backward pass).
        "throughput": {"train_rows_per_s": rate, "rows_per_gflop": rate / gflops,
                       "matmul_utilisation": 6 * n_params * rate / (gflops * 1e9)},
    }
    table = Table("seed", "AUC", "accuracy", "baseline AUC", "baseline accuracy", "epochs", "train s",
                  title="driftline model vs HistGradientBoosting (test split)")
    for r in rows:
        table.add_row(str(r["seed"]), f"{r['roc_auc']:.4f}", f"{r['accuracy']:.4f}", f"{r['baseline_roc_auc']:.4f}",
                      f"{r['baseline_accuracy']:.4f}", str(r["epochs"]), f"{r['train_s']:.1f}")
    s = summary
    table.add_row("mean ± sd", *[f"{s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in keys[:4]], "",
                  f"{s['train_s']['mean']:.1f}")
    console = Console()
    console.print(table)
    low, high = result["auc_difference"]["interval_95"]
    console.print(f"AUC difference (model - baseline): {result['auc_difference']['mean']:+.4f}, paired bootstrap "
                  f"95% interval [{low:+.4f}, {high:+.4f}]; accuracy difference {result['accuracy_difference']:+.4f}")
    console.print(f"training: {rate:.0f} rows/s; dense matmul {gflops:.1f} GFLOP/s; {rate / gflops:.1f} rows per "
                  f"GFLOP; {result['throughput']['matmul_utilisation']:.1%} of matmul peak")
    write_json(OUT, result)


if __name__ == "__main__":
    typer.run(main)
