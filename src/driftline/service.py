"""The BentoML service: loads the packaged model from the model store and scores JSON records.

The request model is built from the schema stored with the model, so a missing column, a wrong type
or an unknown field is answered 400 by BentoML's own validation, naming the field. A request with more
records than the model's `max_records` is answered 413.

The service serves the model it started with. GET /metadata names that version, its model card and
schema, and, where the registry is reachable (`driftline serve` passes its folder), whether the
registry's champion has moved since: a stale service says so, and a restart follows the champion.
"""

from __future__ import annotations

import json
import os
from http import HTTPStatus
from pathlib import Path
from typing import Optional

import bentoml
from bentoml.exceptions import BentoMLException
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftline.config import Schema
from driftline.predictor import Predictor

MODEL_TAG = os.environ.get("DRIFTLINE_MODEL_TAG", "driftline:latest")
model_ref = bentoml.models.BentoModel(MODEL_TAG)
schema = Schema.model_validate_json(Path(model_ref.stored.path_of("schema.json")).read_text())
FIELD_TYPES = {"integer": Optional[int], "float": Optional[float], "category": Optional[str]}


def record_model(schema: Schema) -> type[BaseModel]:
    """One field per feature (null allowed, key required); the target may be sent and is ignored."""
    fields = {name: (FIELD_TYPES[schema.columns[name].type], ...) for name in schema.features}
    fields[schema.target] = (Optional[str], None)
    return create_model("Record", __config__=ConfigDict(extra="forbid", strict=False), **fields)


Record = record_model(schema)


class Prediction(BaseModel):
    probability: float
    label: str


CARD = Path(__file__).resolve().parents[1] / "model_card.md"  # shipped beside the code by the release


def metadata(request) -> JSONResponse:
    """Which model is serving, its card and schema, and whether the registry's champion is still this one."""
    version, champion = os.environ.get("DRIFTLINE_VERSION"), None
    registry = os.environ.get("DRIFTLINE_REGISTRY")
    if registry and Path(registry, "registry.json").is_file():
        champion = json.loads(Path(registry, "registry.json").read_text())["aliases"].get("champion")
    return JSONResponse({
        "model_tag": MODEL_TAG, "version": version, "champion": champion,
        "stale": None if champion is None or version is None else champion != version,
        "model_card": CARD.read_text() if CARD.is_file() else None,
        "model_card_path": f"registry/cards/{version}.md" if version else None,
        "schema": schema.model_dump(mode="json"),
    })


@bentoml.asgi_app(Starlette(routes=[Route("/", metadata)]), path="/metadata")
@bentoml.service(name="driftline", traffic={"timeout": 30})
class Driftline:
    model = model_ref

    def __init__(self) -> None:
        self.predictor = Predictor.load(self.model.path)

    @bentoml.api
    def predict(self, records: list[Record] = Field(min_length=1)) -> list[Prediction]:  # type: ignore[valid-type]
        """Probability of the positive label and the decided label for each record."""
        if len(records) > self.predictor.max_records:
            raise BentoMLException(
                f"records: {len(records)} records in one request; at most {self.predictor.max_records} are allowed",
                error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        columns = {name: [getattr(r, name) for r in records] for name in schema.features}
        probability, label = self.predictor.predict_columns(columns)
        return [Prediction(probability=p, label=lbl) for p, lbl in zip(probability.tolist(), label.tolist())]
