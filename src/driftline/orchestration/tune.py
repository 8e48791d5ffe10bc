"""driftline tune: an Optuna TPE search over one member's params (the network's `train`, or the boosters'
`boost`), scored on the validation split only.

The study lives in SQLite in the project (params.yaml `tune.dir`), named after the member and the featurize
outputs it searched on, so an interrupted search resumes where it stopped and a search on other data starts
anew. The test split is never read.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import yaml  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

from driftline.config import Params, TrainParams, with_values  # noqa: E402
from driftline.core.artifacts import splits_dir  # noqa: E402
from driftline.core.task import Task  # noqa: E402
from driftline.core.trees import objective as lightgbm_objective  # noqa: E402
from driftline.errors import ConfigError  # noqa: E402
from driftline.stages import boost, train  # noqa: E402
from driftline.stages.train.checkpoints import splits_digest  # noqa: E402


def suggest(trial: optuna.Trial, base: TrainParams) -> dict:
    """One point of the search space, as `train` keys (dotted for the embedding's)."""
    point = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "blocks": trial.suggest_int("blocks", 1, 4),
        "width": trial.suggest_int("width", 64, 512, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "members": trial.suggest_int("members", 4, 12),
    }
    if base.sharing != "packed" and base.category_embedding is not None:
        point["category_embedding"] = trial.suggest_categorical("category_embedding", [4, 8, 16])
    if base.model == "mlp_plr":
        point |= {
            "embedding.d_embedding": trial.suggest_int("embedding.d_embedding", 8, 64, log=True),
            "embedding.n_frequencies": trial.suggest_int("embedding.n_frequencies", 8, 96, log=True),
            "embedding.frequency_init_scale": trial.suggest_float("embedding.frequency_init_scale", 0.1, 100,
                                                                  log=True),
        }
    return point


def suggest_boost(trial: optuna.Trial) -> dict:
    """One point of the boosters' search space, as `boost` keys; every knob set, so `defaults` picks nothing."""
    return {
        "defaults": "td",
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 2, 100, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "min_sum_hessian_in_leaf": trial.suggest_float("min_sum_hessian_in_leaf", 1e-7, 1e-1, log=True),
    }


class Pruning(Callback):
    """Reports each epoch's validation metric to the trial, and stops a trial the pruner gives up on."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial

    def on_validation_end(self, trainer, module):
        self.trial.report(float(trainer.callback_metrics[module.metric_name]), trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {trainer.current_epoch}")


def study_name(splits: Path, member: str = "deep") -> str:
    """The network's study keeps the name it had before the boosters were searched too."""
    return f"driftline-{'' if member == 'deep' else member + '-'}{splits_digest(splits)[:12]}"


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))


def tune(params: Params, root: Path, trials: int, timeout: float | None,
         on_trial: Callable[[int], None] = lambda done: None, member: str = "deep") -> dict:
    """Run trials of MEMBER ("deep": the train stage, "boost": the boost stage) until the study holds TRIALS
    finished ones (or TIMEOUT seconds pass); write the best.

    Writes best.yaml (a params.yaml `train:` fragment; best-boost.yaml and a `boost:` fragment for the
    boosters) and importance.png into `tune.dir`, and returns the best trial's number, its validation metric
    (the network's early-stopping metric, core.task; the boosters' validation loss) and `dvc exp run` line.
    """
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # Optuna reports each trial instead
    splits = splits_dir(root)
    if not (splits / "transform.json").is_file():
        raise ConfigError(f"no featurize outputs in {splits}: run `dvc repro featurize` first")
    out = root / params.tune.dir
    out.mkdir(parents=True, exist_ok=True)
    # Heartbeats let a rerun mark the trial an interruption left 'running' as failed, and run it again.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(out / 'study.db').resolve()}", heartbeat_interval=10,
                                         grace_period=20, heartbeat_stale_trial_callback=retry)
    task = Task.of(params.schema)
    direction = "maximize" if task.stop_mode == "max" and member == "deep" else "minimize"
    study = optuna.create_study(storage=storage, study_name=study_name(splits, member), direction=direction,
                                load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))
    # Seeded by how far the study got, so that a resumed search does not draw its first points again.
    study.sampler = optuna.samplers.TPESampler(seed=params.tune.seed + len(study.trials))

    def boost_objective(trial: optuna.Trial) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            point = {f"boost.{k}": v for k, v in suggest_boost(trial).items()}
            metrics = boost.run(with_values(params, point), splits, Path(tmp) / "boost", Path(tmp) / "metrics.json")
        return metrics[f"best_val_{lightgbm_objective(task.kind, None)[1]}"]

    def objective(trial: optuna.Trial) -> float:
        point = {f"train.{k}": v for k, v in suggest(trial, params.train).items()}
        # In one process: under DDP, Lightning would relaunch the whole `driftline tune` for each rank. No pilot:
        # the trial's own frequency scale is what it measures.
        one_process = {"train.strategy": "auto", "train.devices": 1, "train.num_nodes": 1, "train.pilot_scales": []}
        trial_params = with_values(params, point | one_process)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            metrics = train.run(trial_params, splits, tmp / "model", tmp / "checkpoints", tmp / "metrics.json",
                                tmp / "history.json", callbacks=[Pruning(trial)])
        return metrics[f"best_val_{task.stop_metric}"]

    on_trial(finished(study))
    remaining = trials - finished(study)
    if remaining > 0:
        study.optimize(objective if member == "deep" else boost_objective, n_trials=remaining, timeout=timeout,
                       catch=(), callbacks=[lambda s, t: on_trial(finished(s))])
    if member == "deep":
        return write_best(study, out, f"validation {task.stop_metric}")
    return write_best(study, out, f"validation {lightgbm_objective(task.kind, None)[1]}", "boost", {"defaults": "td"})


def write_best(study: optuna.Study, out: Path, metric: str, section_name: str = "train",
               fixed: dict | None = None) -> dict:
    """best.yaml (best-<section>.yaml for another section than train) and importance.png from the study so far;
    FIXED: keys the fragment sets besides the trial's."""
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ConfigError("no trial has finished yet: nothing to write")
    best = study.best_trial
    chosen = (fixed or {}) | best.params
    fragment: dict = {section_name: {}}
    suffix = "" if section_name == "train" else f"-{section_name}"
    for key, value in chosen.items():
        section = fragment[section_name]
        *parents, leaf = key.split(".")
        for name in parents:
            section = section.setdefault(name, {})
        section[leaf] = value
    header = (f"# driftline tune: trial {best.number} of study {study.study_name}, {metric} "
              f"{best.value:.5f}.\n# Merge into params.yaml, or run it as an experiment with the line below.\n")
    (out / f"best{suffix}.yaml").write_text(header + yaml.safe_dump(fragment, sort_keys=False))
    command = "dvc exp run " + " ".join(f"-S {section_name}.{key}={value}" for key, value in chosen.items())
    if len(completed) > 1:
        importance = optuna.importance.get_param_importances(study)
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(importance) + 1))
        ax.barh(list(importance)[::-1], list(importance.values())[::-1])
        ax.set_xlabel(f"importance for {metric} (fANOVA)")
        fig.savefig(out / f"importance{suffix}.png", dpi=110, bbox_inches="tight")
        plt.close(fig)
    return {"best_trial": best.number, "metric": metric, "best_value": best.value, "finished": finished(study),
            "params": best.params, "command": command, "file": f"best{suffix}.yaml"}
