"""Small trained models of every task kind (tests/helpers/tiny_models.py's tables and schemas), for tests that need a
model that predicts: the featurize, train, boost and evaluate stages on a tiny budget (the blend and its decision
fitted on validation). Seconds per task, once per test session.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from driftline.config import Params
from driftline.core.blend import Blend
from driftline.core.encoding import Transform
from driftline.core.predictor import Predictor, weights
from driftline.core.splits import load_split
from driftline.stages import boost, evaluate, featurize, train
from tests.helpers import tiny_models

REPO = Path(__file__).resolve().parents[2]
ROWS = 4000
SPLITS = {"val_size": 0.3, "test_size": 0.15}  # a large validation split: CBPE and DLE are fitted there
BUDGET = {"members": 2, "blocks": 2, "width": 32, "dropout": 0.0, "max_epochs": 4, "patience": 4,
          "learning_rate": 0.003, "batch_size": 128, "max_rows": None, "val_rows": None, "min_steps": 0,
          "pilot_scales": [],
          "embedding": {"d_embedding": 8, "n_frequencies": 8, "frequency_init_scale": 1.0, "lite": True}}
BOOST = {"max_rounds": 100, "early_stopping_rounds": 20}


@dataclass
class TaskModel:
    params: Params  # with the table's schema (sensitive: group)
    root: Path  # featurize/ (splits and transform.json), train/ (the network), boost/ (the boosters), decision.json
    predictor: Predictor

    def split(self, name: str) -> pd.DataFrame:
        return load_split(self.root / "featurize", name)

    @property
    def members(self) -> tuple[Path, Path, Path]:
        """The splits' folder and the members' folders, as the stages after evaluate take them."""
        return self.root / "featurize", self.root / "train", self.root / "boost"

    def blend(self, weights: dict[str, float]) -> Blend:
        """Both members under WEIGHTS, whatever evaluate chose."""
        return Blend.load(self.predictor.transform, weights, self.root / "train", self.root / "boost")


def task_params(kind: str, data_dir: Path) -> Params:
    """params.yaml with KIND's table schema, its data folder, a large validation split and a tiny budget."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["schema"] = tiny_models.schema(kind).model_dump(mode="json") | {"sensitive": {"group": {}}}
    raw["data"]["dir"] = str(data_dir)
    raw["featurize"].update(SPLITS)
    raw["train"].update(BUDGET)
    raw["boost"].update(BOOST)
    return Params.model_validate(raw)


@functools.cache
def task_model(kind: str) -> TaskModel:
    """KIND's table (ROWS rows, seed 0) trained once per session, in a temporary folder."""
    root = Path(tempfile.mkdtemp(prefix=f"driftline-{kind}-"))
    atexit.register(shutil.rmtree, root, True)
    (root / "data").mkdir()
    tiny_models.table(kind, ROWS).to_csv(root / "data" / "table.csv", index=False)
    params = task_params(kind, root / "data")
    featurize.run(params, root / "featurize", root / "featurize.json", root)
    train.run(params, root / "featurize", root / "train", root / "checkpoints", root / "train.json",
              root / "history.json")
    boost.run(params, root / "featurize", root / "boost", root / "boost.json")
    evaluate.run(params, root / "featurize", root / "train", root / "boost", root / "decision.json",
                 root / "scores.parquet", root / "evaluate.json", root / "plots")
    transform = Transform.load(root / "featurize" / "transform.json")
    decision = json.loads((root / "decision.json").read_text())
    blend = Blend.load(transform, weights(decision), root / "train", root / "boost")
    predictor = Predictor(blend, transform, params.schema, decision, params.data.na_values, params.package.max_records)
    return TaskModel(params, root, predictor)
