"""The BentoML service: loads the packaged model from the model store and scores JSON records.

The request model is built from the schema stored with the model, so a missing column, a wrong type
or an unknown field is answered 400 by BentoML's own validation, naming the field.
"""

from __future__ import annotations

import os
from typing import Optional

import bentoml
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

from driftline.config import Schema
from driftline.predictor import Predictor

MODEL_TAG = os.environ.get("DRIFTLINE_MODEL_TAG", "driftline:latest")
model_ref = bentoml.models.BentoModel(MODEL_TAG)
schema = Schema.model_validate_json(open(model_ref.stored.path_of("schema.json")).read())


def record_model(schema: Schema) -> type[BaseModel]:
    """One field per feature (null allowed, key required); the target may be sent and is ignored."""
    fields = {
        name: (Optional[float] if schema.columns[name].numeric else Optional[str], ...) for name in schema.features
    }
    fields[schema.target] = (Optional[str], None)
    return create_model("Record", __config__=ConfigDict(extra="forbid", strict=False), **fields)


Record = record_model(schema)


class Prediction(BaseModel):
    probability: float
    label: str


@bentoml.service(name="driftline", traffic={"timeout": 30})
class Driftline:
    model = model_ref

    def __init__(self) -> None:
        self.predictor = Predictor.load(self.model.path)

    @bentoml.api
    def predict(self, records: list[Record] = Field(min_length=1)) -> list[Prediction]:  # type: ignore[valid-type]
        """Probability of the positive label and the decided label for each record."""
        frame = pd.DataFrame([r.model_dump() for r in records], columns=schema.features)
        scored = self.predictor.predict(frame)
        return [Prediction(probability=p, label=lbl) for p, lbl in zip(scored["probability"], scored["label"])]
