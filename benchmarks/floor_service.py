"""The serve benchmark's floor: BentoML serving driftline's request schema with no model work.

`benchmarks/serve.py` runs `bentoml serve floor_service:Floor --working-dir benchmarks` with the same
DRIFTLINE_MODEL_TAG and DRIFTLINE_TIMEOUT_S as `driftline serve`, on loopback, one worker, beside the
real service. The request model is driftline's own (`Record`, built from the served model's schema), so
BentoML validates exactly what it validates for driftline; importing it also installs the same timeout
middleware (serving/timeout.py). The answer has driftline's shape (one `Prediction` per record) but is
constant: no coercion, encoding, model call or log. What is left is the HTTP stack, request validation
and response serialisation: the ceiling any model service of this schema has on the machine.
"""

from __future__ import annotations

import gc
import os
from typing import Annotated

import bentoml
from pydantic import Field

from driftline.serving.service import JSON_OUT, RECORD_ID, Prediction, Record, schema

ANSWER = {"probability": 0.5, "label": schema.positive_label}


@bentoml.service(name="floor", traffic={"timeout": float(os.environ.get("DRIFTLINE_TIMEOUT_S", "10"))})
class Floor:
    def __init__(self) -> None:
        gc.collect()  # as driftline's service does once it has loaded: the same collector settings
        gc.freeze()

    @bentoml.api
    async def predict(self, records: list[Record] = Field(min_length=1)) -> Annotated[list[Prediction], JSON_OUT]:  # type: ignore[valid-type]
        """A constant prediction per record, with the record's id (or a constant one)."""
        return [Prediction(**{RECORD_ID: getattr(r, RECORD_ID) or "floor"}, **ANSWER) for r in records]
