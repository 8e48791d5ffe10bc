"""Model benchmark: the deep model against the gradient-boosting baseline over several seeds, on one split.

Run from the project root (`make bench-model`, or `python benchmarks/model.py --seeds 5`). Splits the
project's data with params.yaml's featurize settings into a temporary folder, then for each seed fits the
baseline and trains, one after the other, the default model and the previous default (PREVIOUS: the model
before `train.sharing`), chooses every threshold on the validation split, and scores the test split.
Prints tables and records them in benchmarks/results/model.json (benchmarks/record.py): per seed, test ROC
AUC and accuracy, the training time and rows per second, and the in-process time of one record; the means
and spreads; paired bootstrap 95% intervals of the mean AUC differences (each model against the baseline,
and the default against the previous one); the two models' speeds side by side; and training rows per
second beside this machine's dense matmul throughput, measured in the same run.

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
from driftline.core.blend import DEEP_ONLY, Blend
from driftline.core.data import coerce, read_dataset
from driftline.core.encoding import Transform
from driftline.core.metrics import calibration_error, choose_threshold
from driftline.core.model import TabularNet, raw_outputs
from driftline.core.predictor import Predictor
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
    evaluate.run(p, art / "featurize", art / "train", art / "boost", art / "decision.json", art / "scores.parquet",
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


# The default model before `train.sharing` (params.yaml's train section at ab813e9), trained side by side.
PREVIOUS = {"train.sharing": "packed", "train.category_embedding": None, "train.members": 8, "train.blocks": 2,
            "train.width": 200, "train.dropout": 0.385, "train.embedding": {"d_embedding": 35, "n_frequencies": 56,
                                                        "frequency_init_scale": 80.0, "lite": True},
            "train.learning_rate": 0.0016, "train.weight_decay": 0.0008, "train.warmup_epochs": 1,
            "train.batch_size": 256, "train.max_epochs": 12, "train.patience": 4}
MODELS = {"driftline": {}, "previous": PREVIOUS}


def record_ms(model: TabularNet, transform: Transform, params: Params, frame, calls: int = 400) -> float:
    """Median milliseconds of one record through Predictor.predict_columns in process (record.one_record_ms)."""
    predictor = Predictor(blend=Blend(transform, DEEP_ONLY, model), transform=transform, schema=params.schema,
                          decision={"threshold": 0.5, "temperature": 1.0}, na_values=params.data.na_values,
                          max_records=1)
    return record.one_record_ms(predictor, frame[params.schema.features], calls)


def main(seeds: int = typer.Option(5, min=1), first_seed: int = typer.Option(0),
         rounds: int = typer.Option(1000, help="bootstrap rounds"),
         small_seeds: int = typer.Option(5, min=0, help="seeds of the small-data rows (0: none)")) -> None:
    params = load_params()
    small = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(small_seeds):
            small += [small_data(params, seed, folds, Path(tmp)) for folds in (True, False)]
    gflops = matmul_gflops()
    rows, scores, sizes = [], {name: [] for name in [*MODELS, "baseline"]}, {}
    with tempfile.TemporaryDirectory() as tmp:
        splits = Path(tmp, "splits")
        featurize.run(params, splits, Path(tmp, "featurize.json"))
        val, test = load_split(splits, "val"), load_split(splits, "test")
        y_val, y_test = (Task.of(params.schema).targets(f) for f in (val, test))
        train_rows = len(load_split(splits, "train"))
        transform = Transform.load(splits / "transform.json")
        for seed in range(first_seed, first_seed + seeds):
            p = with_values(params, {"train.seed": seed, "evaluate.baseline.seed": seed})
            started = time.perf_counter()
            baseline = fit_baseline(load_split(splits, "train"), p.schema, p.evaluate)
            baseline_seconds = time.perf_counter() - started
            theirs = [baseline.predict_proba(_as_categories(f, p.schema))[:, 1] for f in (val, test)]
            scores["baseline"].append(theirs[1])
            base = scored(y_val, theirs[0], y_test, theirs[1], p)
            for name, overrides in MODELS.items():  # side by side: one seed of each model in turn
                out = Path(tmp, f"{name}-{seed}")
                started = time.perf_counter()
                metrics = train.run(with_values(p, overrides), splits, out, out / "checkpoints", out / "metrics.json",
                                    out / "history.json")
                seconds = time.perf_counter() - started
                model = TabularNet.load(out)
                ours = [expit(raw_outputs(model, transform(f))[:, 0]) for f in (val, test)]
                scores[name].append(ours[1])
                sizes[name] = sum(t.numel() for t in model.state_dict().values())
                mine = scored(y_val, ours[0], y_test, ours[1], p)
                rows.append({"seed": seed, "model": name, "roc_auc": mine["roc_auc"], "accuracy": mine["accuracy"],
                             "baseline_roc_auc": base["roc_auc"], "baseline_accuracy": base["accuracy"],
                             "threshold": mine["threshold"], "epochs": metrics["epochs"],
                             "best_epoch": metrics["best_epoch"], "train_s": seconds,
                             "baseline_fit_s": baseline_seconds,
                             "train_rows_per_s": metrics["epochs"] * train_rows / seconds,
                             "record_ms": record_ms(model, transform, p, test)})
    intervals = {name: paired_interval(y_test, scores[name], scores["baseline"], rounds) for name in MODELS}
    intervals["driftline - previous"] = paired_interval(y_test, scores["driftline"], scores["previous"], rounds)
    record.publish("model", tables(rows, intervals, gflops, sizes, train_rows, len(test), params)
                   + (small_tables(small, params) if small else []))


KEYS = ["roc_auc", "accuracy", "baseline_roc_auc", "baseline_accuracy", "train_s", "train_rows_per_s", "record_ms"]


def flat(config: dict, prefix: str = "") -> list[list]:
    """A nested configuration as (dotted key, value) rows."""
    return [row for key, value in config.items()
            for row in (flat(value, f"{prefix}{key}.") if isinstance(value, dict) else [[prefix + key, value]])]


def tables(rows: list[dict], intervals: dict[str, list[float]], gflops: float, sizes: dict[str, int],
           train_rows: int, test_rows: int, params: Params) -> list[dict]:
    """The run as the results contract's tables: per seed, over seeds, the differences, the models side by
    side, throughput against this machine's matmul, the configuration."""
    mean = {name: {k: float(np.mean([r[k] for r in rows if r["model"] == name])) for k in KEYS} for name in MODELS}
    std = {name: {k: float(np.std([r[k] for r in rows if r["model"] == name])) for k in KEYS} for name in MODELS}
    rate = mean["driftline"]["train_rows_per_s"]
    columns = {"seed": "seed", "model": "model", "roc_auc": "AUC", "accuracy": "accuracy",
               "baseline_roc_auc": "baseline AUC", "baseline_accuracy": "baseline accuracy", "threshold": "threshold",
               "epochs": "epochs", "best_epoch": "best epoch", "train_s": "train s", "baseline_fit_s": "baseline fit s",
               "train_rows_per_s": "train rows/s", "record_ms": "1 record ms"}
    differences = [[f"{name} - baseline" if name in MODELS else name, "ROC AUC", mean[name]["roc_auc"]
                    - mean[name]["baseline_roc_auc"] if name in MODELS else mean["driftline"]["roc_auc"]
                    - mean["previous"]["roc_auc"], *interval] for name, interval in intervals.items()]
    differences += [[f"{name} - baseline", "accuracy", mean[name]["accuracy"] - mean[name]["baseline_accuracy"],
                     None, None] for name in MODELS]
    ratio = {k: mean["driftline"][k] / mean["previous"][k] for k in ("train_rows_per_s", "record_ms")}
    return [
        record.table("driftline model vs HistGradientBoosting, per seed (test split)", list(columns.values()),
                     [[r[c] for c in columns] for r in rows],
                     note="both models' thresholds chosen on the validation split; previous: the default model "
                          "before sharing: mini (benchmarks/model.py PREVIOUS), trained in the same run"),
        record.table(f"Over {len(rows) // len(MODELS)} seeds", ["model", "measure", "mean", "sd"],
                     [[name, columns[k], mean[name][k], std[name][k]] for name in MODELS for k in KEYS]),
        record.table("Differences", ["models", "measure", "mean", "95% low", "95% high"], differences,
                     note="AUC intervals: paired bootstrap over test rows of the mean-over-seeds difference"),
        record.table("Speed, side by side", ["measure", "previous", "driftline", "driftline / previous"], [
            ["train rows/s (mean over seeds)", mean["previous"]["train_rows_per_s"], rate, ratio["train_rows_per_s"]],
            ["1 record in process, ms (Predictor.predict_columns, 1 thread)", mean["previous"]["record_ms"],
             mean["driftline"]["record_ms"], ratio["record_ms"]],
            ["parameters", sizes["previous"], sizes["driftline"], sizes["driftline"] / sizes["previous"]]]),
        # rows per second per GFLOP/s of dense matmul (a machine-independent rate)
        record.table("Training throughput", ["measure", "value"], [
            ["train rows/s (mean over seeds)", rate], ["dense float32 matmul GFLOP/s", gflops],
            ["torch threads", torch.get_num_threads()], ["rows per GFLOP", rate / gflops],
            ["train rows", train_rows], ["test rows", test_rows]]),
        record.table("Model configuration (params.yaml train)", ["key", "value"],
                     flat(params.train.model_dump(mode="json"))),
    ]


if __name__ == "__main__":
    typer.run(main)
