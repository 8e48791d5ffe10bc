"""The embedding's frequency scale, chosen on validation by short pilot runs (train.pilot_scales).

PeriodicEmbeddings' frequency_init_scale is the knob that matters most in MLP-PLR, and the value tuned on
one table can be far off on another: Adult's 80 lost 0.11 in log loss to 1 on a generated 5-class table of
smooth numbers, and 1 lost 0.008 AUC to 80 on Adult. Each candidate trains pilot_epochs from the same
seeded start, on a schedule of its own; the full run takes the one with the best validation metric.
"""

from __future__ import annotations

import lightning as L
import torch

from driftline.config import TrainParams
from driftline.core.task import Task
from driftline.stages.train.callbacks import History
from driftline.stages.train.data import SplitData
from driftline.stages.train.module import Learner


def with_scale(params: TrainParams, scale: float) -> TrainParams:
    return params.model_copy(update={"embedding": params.embedding.model_copy(update={"frequency_init_scale": scale})})


def pilot_scale(data: SplitData, params: TrainParams, task: Task, weights: float | list[float],
                settings: dict) -> tuple[float, dict[float, float]]:
    """The frequency scale to train with, and each candidate's best validation metric over its pilot: the
    configured one alone (no pilot) where there is nothing else to try. The global RNG is left as it was,
    so the full run starts as it would have without pilots."""
    scales = list(dict.fromkeys([params.embedding.frequency_init_scale, *params.pilot_scales]))
    if params.model != "mlp_plr" or len(scales) == 1:
        return scales[0], {}
    found = {}
    with torch.random.fork_rng(devices=[]):
        state = torch.random.get_rng_state()
        for scale in scales:
            torch.random.set_rng_state(state)
            learner = Learner(data.transform, with_scale(params, scale), task, weights, data.folds, pilot=True)
            history = History(learner.metric_name)
            trainer = L.Trainer(**settings, max_epochs=params.pilot_epochs, callbacks=[history],
                                enable_checkpointing=False)
            trainer.fit(learner, datamodule=data)
            values = [row["val_metric"] for row in history.rows]
            found[scale] = max(values) if task.stop_mode == "max" else min(values)
    best = (max if task.stop_mode == "max" else min)(found, key=found.get)
    return best, found
