"""The BentoML service: loads the packaged model from the model store, scores and explains JSON records,
and logs every scored record.

Each record's answer follows the model's task (serving.answers): a binary model answers the positive
label's probability and the decided label; a multiclass one the most probable class and every class's
probability; a regression one the prediction and its interval.

The request model is built from the schema stored with the model, so a missing column, a wrong type
or an unknown field is answered 400 by BentoML's own validation, naming the field. A request with more
records than the model's `max_records` is answered 413. Each record may carry an `id` (echoed in the
answer, and the key that late labels join on); one is generated where it does not.

Concurrent requests share model calls: records that arrive while the event loop is busy are scored
together (see Batcher). Every scored record goes to the inference log (DRIFTLINE_LOG_URL; none when
unset) from a background thread; a broken database never fails a request, and its failures are counted
at GET /metadata/log. On shutdown (SIGTERM) the log writes whatever is pending before the worker exits.

The service serves the model it started with. GET /metadata names that version, its model card and
schema, and, where the registry is reachable (`driftline serve` passes its folder), whether the
registry's champion has moved since: a stale service says so, and a restart follows the champion.
"""

from __future__ import annotations

import gc
import os
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Optional, Union

import bentoml
import torch
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from pydantic import BaseModel, ConfigDict, Field, create_model
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftline.config import Schema
from driftline.core.predictor import Predictor, stored_schema
from driftline.core.task import Task
from driftline.registry.store import CHAMPION, Registry
from driftline.serving.answers import ANSWER_FIELDS, EXPLANATION_FIELDS, answer_records
from driftline.serving.batcher import Batcher
from driftline.serving.log import InferenceLog, logged, record_id_field, utc_now
from driftline.serving.timeout import install as install_timeout

install_timeout()
MODEL_TAG = os.environ.get("DRIFTLINE_MODEL_TAG", "driftline:latest")
model_ref = bentoml.models.BentoModel(MODEL_TAG)
schema = stored_schema(model_ref.stored.path_of("schema.json"))
task = Task.of(schema)
# A category value may come as JSON text, a number or a boolean: a category declared "1" takes 1 and "1",
# one declared "True" takes true. data.coerce_column turns each into its canonical text (data.category_text),
# as it does a CSV's cells; lists and objects are refused.
FIELD_TYPES = {"integer": Optional[int], "float": Optional[float], "category": Optional[Union[str, bool, int, float]]}
RECORD_ID = record_id_field(schema.columns)
JSON_OUT = ContentType("application/json")  # spares BentoML a JSON schema per response to find the media type


def record_model(schema: Schema) -> type[BaseModel]:
    """One field per feature (null allowed, key required), an optional target of its declared type (ignored),
    and an optional record id.

    Fields take the JSON types of their declared type (FIELD_TYPES); a value of another JSON type is a
    validation error that names the field.
    """
    fields = {name: (FIELD_TYPES[schema.columns[name].type], ...) for name in schema.features}
    fields[schema.target] = (FIELD_TYPES[schema.columns[schema.target].type], None)
    fields[record_id_field(schema.columns)] = (Optional[str], Field(None, min_length=1, max_length=200))
    return create_model("Record", __config__=ConfigDict(extra="forbid", strict=False), **fields)


def response_model(name: str, fields: dict[str, type]) -> type[BaseModel]:
    """A response model: the record id, then FIELDS (name: JSON type), all required."""
    return create_model(name, **{RECORD_ID: (str, ...)}, **{key: (kind, ...) for key, kind in fields.items()})


Record = record_model(schema)
Prediction = response_model("Prediction", ANSWER_FIELDS[task.kind])
# attributions per raw column, in the units of the raw output explained (the logit, or the standardised
# prediction): base_value plus their sum is that output
Explanation = response_model("Explanation", EXPLANATION_FIELDS[task.kind]
                             | {"base_value": float, "attributions": dict[str, float]})


CARD = Path(__file__).resolve().parents[2] / "model_card.md"  # shipped beside the code by the release
LOG: dict[str, InferenceLog] = {}  # the worker's log, for the /metadata/log route


def metadata(request) -> JSONResponse:
    """Which model is serving, its card and schema, and whether the registry's champion is still this one."""
    version, champion = os.environ.get("DRIFTLINE_VERSION"), None
    registry = os.environ.get("DRIFTLINE_REGISTRY")
    if registry:
        champion = Registry(Path(registry)).aliases.get(CHAMPION)
    return JSONResponse({
        "model_tag": MODEL_TAG, "version": version, "champion": champion,
        "stale": None if champion is None or version is None else champion != version,
        "model_card": CARD.read_text() if CARD.is_file() else None,
        "model_card_path": f"registry/cards/{version}.md" if version else None,
        "schema": schema.model_dump(mode="json"),
    })


def log_status(request, worker_log: dict = LOG) -> JSONResponse:  # bound now: a module reload keeps the app's
    """The inference log's counts: rows written, failed writes, dropped and pending rows, the last error."""
    log = worker_log.get("log")
    return JSONResponse({"enabled": log is not None} | (log.status() if log else {}))


@bentoml.asgi_app(Starlette(routes=[Route("/", metadata), Route("/log", log_status)]), path="/metadata")
@bentoml.service(name="driftline", traffic={"timeout": float(os.environ.get("DRIFTLINE_TIMEOUT_S", "10"))})
class Driftline:
    model = model_ref

    def __init__(self) -> None:
        torch.set_num_threads(1)  # a request is a few rows: intra-op threads would only contend with the loop
        self.predictor = Predictor.load(self.model.path)
        self.batcher = Batcher(self.predictor.predict_columns)
        self.version = os.environ.get("DRIFTLINE_VERSION") or self.model.tag.version
        url = os.environ.get("DRIFTLINE_LOG_URL")
        self.log = LOG["log"] = InferenceLog(url) if url else None
        self.explainer = None
        # Everything loaded so far lives as long as the worker: keep it out of the collector's full passes,
        # which otherwise stall every request for tens of milliseconds.
        gc.collect()
        gc.freeze()

    @bentoml.on_shutdown
    def close_log(self) -> None:
        if self.log is not None:
            self.log.close()

    def _read(self, records: list) -> tuple[dict[str, list], list[str]]:
        """The records' feature columns and their ids (a new one where a record has none); 413 past max_records."""
        if len(records) > self.predictor.max_records:
            raise BentoMLException(
                f"records: {len(records)} records in one request; at most {self.predictor.max_records} are allowed",
                error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        columns = {name: [getattr(r, name) for r in records] for name in schema.features}
        return columns, [getattr(r, RECORD_ID) or uuid.uuid4().hex for r in records]

    @bentoml.api
    async def predict(self, records: list[Record] = Field(min_length=1)) -> Annotated[list[Prediction], JSON_OUT]:  # type: ignore[valid-type]
        """Each record's answer, with its id: binary `probability` (of the positive label) and `label`;
        multiclass `label` and `probabilities` (per class); regression `prediction` and `interval` ([lower, upper])."""
        columns, ids = self._read(records)
        answers = answer_records(task, await self.batcher(columns))
        if self.log is not None:
            request_id, created = uuid.uuid4().hex, utc_now()
            self.log.append([
                {"request_id": request_id, "record_id": i, "created": created, "model_version": self.version,
                 "features": {name: columns[name][n] for name in schema.features}} | logged(answer)
                for n, (i, answer) in enumerate(zip(ids, answers))
            ])
        return [Prediction(**{RECORD_ID: i}, **answer) for i, answer in zip(ids, answers)]

    @bentoml.api
    def explain(self, records: list[Record] = Field(min_length=1)) -> Annotated[list[Explanation], JSON_OUT]:  # type: ignore[valid-type]
        """SHAP attributions per raw column (the audit's explainer) of each record's raw output: the logit
        (binary), the predicted class's logit (multiclass), the standardised prediction (regression); with the
        answer and the base value they add up from."""
        columns, ids = self._read(records)
        if self.explainer is None:
            from driftline.core.explain import Explainer  # shap is imported on the first explanation, not at start

            self.explainer = Explainer.load(self.predictor, self.model.path)
        result = self.explainer.explain_columns(columns)
        return [Explanation(**{RECORD_ID: i}, **row) for i, row in zip(ids, result)]
