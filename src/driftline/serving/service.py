"""The BentoML service: loads the packaged model from the model store, scores and explains JSON records,
and logs every scored record.

Each record's answer follows the model's task (serving.answers): a binary model answers the positive
label's probability and the decided label; a multiclass one the most probable class and every class's
probability; a regression one the prediction and its interval.

The request model is built from the schema stored with the model, so a missing column, a wrong type
or an unknown field is answered 400 by BentoML's own validation, naming the field (the first MAX_PROBLEMS
problems, then a count of the rest). A value the log could not store as it was scored (a number that is not
finite, an integer beyond 64 bits, a text longer than DRIFTLINE_MAX_TEXT_CHARS) is answered 422, naming it.
A request with more records than the model's `max_records` is answered 413, and so is a body larger than
DRIFTLINE_MAX_BODY_BYTES, before it is parsed (auth.BodyLimit). A client's error is logged in one line, not
with a traceback. Each record may carry an `id` (echoed in the answer, and the key that late labels join
on); one is generated where it does not.

Concurrent requests share model calls: records that arrive while the event loop is busy are scored
together (see Batcher). Every scored record goes to the inference log (DRIFTLINE_LOG_URL; none when
unset) from a background thread; a broken database never fails a request, and its failures are counted
at GET /metadata/log (`?wait=S`: once what was appended is written, up to S seconds). Rows the database
refuses go to the dead-letter file (DRIFTLINE_DEAD_LETTERS); where that file cannot take them either they
are lost, counted, and the service answers 503 at /readyz from then on. On shutdown (SIGTERM) the log writes
whatever is pending before the worker exits.

The service serves the model it started with. GET /metadata names that version, its model card and
schema, and, where the registry is reachable (`driftline serve` passes its folder), whether the
registry's champion has moved since: a stale service says so, and a restart follows the champion.

A rollout (registry.rollout, passed by `driftline serve` in DRIFTLINE_ROLLOUT_MODE and the candidate's
variables) adds the candidate beside the champion. In shadow the champion answers every record and the
candidate scores the same records on a thread of its own after the answers are sent (ShadowScorer); both are
logged under the record's id, the candidate's rows marked shadow. Without a log the candidate scores nothing:
its answers would go nowhere. In canary each record's arm is a stable hash of its id (serving.arms): the
candidate answers its share of the records, and the log names the arm that answered. A rollout whose candidate
could not be found (DRIFTLINE_ROLLOUT_DEGRADED says why) serves the champion alone and says so at /metadata.

With DRIFTLINE_API_TOKEN set, every route but the probes (/healthz, /livez, /readyz) needs the header
`Authorization: Bearer <token>`, and answers 401 without it (BearerToken).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Optional, Union

import bentoml
import torch
from bentoml.exceptions import BentoMLException
from bentoml.validators import ContentType
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator, create_model
from pydantic_core import PydanticCustomError
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftline.config import ServeParams
from driftline.core.predictor import Predictor, stored_schema
from driftline.core.task import Task
from driftline.errors import RegistryError
from driftline.registry.resolver import champion_version
from driftline.schema import Schema
from driftline.serving.answers import ANSWER_FIELDS, EXPLANATION_FIELDS, answer_records
from driftline.serving.arms import CANDIDATE_ARM, CHAMPION_ARM, MODES, canary_arm
from driftline.serving.auth import TOKEN_VARIABLE, BearerToken, BodyLimit
from driftline.serving.batcher import Answers, Batcher, ShadowScorer
from driftline.serving.dead_letters import described
from driftline.serving.log import (
    DEAD_LETTERS_VARIABLE,
    InferenceLog,
    logged,
    record_id_field,
    utc_now,
    value_problems,
)
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
SERVE_PARAMS = ServeParams.model_fields  # `driftline serve` passes params.yaml's; a bare `bentoml serve` gets these
MAX_BODY_BYTES = int(os.environ.get("DRIFTLINE_MAX_BODY_BYTES") or SERVE_PARAMS["max_body_bytes"].default)
MAX_TEXT_CHARS = int(os.environ.get("DRIFTLINE_MAX_TEXT_CHARS") or SERVE_PARAMS["max_text_chars"].default)
MAX_PROBLEMS = 10  # a refusal names this many problems and counts the rest: BentoML's own named every one
# The logger of BentoML's log_exception, which it calls with the traceback for every request it refuses.
REFUSALS_LOGGER = "bentoml._internal.server.http_app"


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


def first_problems(records, validate):
    """The records, validated; where they fail, an error with the first MAX_PROBLEMS problems and a count of the
    rest. (1,000 records with 100 unknown keys each got a 16 MB answer, and 19 MB of log.)"""
    try:
        return validate(records)
    except ValidationError as exc:
        if exc.error_count() <= MAX_PROBLEMS:
            raise
        shown = [{"type": p["type"], "loc": p["loc"], "input": p["input"]} | ({"ctx": p["ctx"]} if "ctx" in p else {})
                 for p in exc.errors()[:MAX_PROBLEMS]]
        rest = PydanticCustomError("more_problems", "{count} more problems not shown",
                                   {"count": exc.error_count() - MAX_PROBLEMS})
        bounded = ValidationError.from_exception_data(exc.title, [*shown, {"type": rest, "loc": (), "input": None}])
        raise bounded from None


class ClientErrorsInOneLine(logging.Filter):
    """BentoML logs each refused request with its traceback: a client's error becomes one line with its status and
    first problem; a server's error keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        status = client_status(error)
        if status is not None:
            record.msg, record.args = "%s: %d %s", (record.getMessage(), status, first_problem(error))
            record.exc_info = record.exc_text = None
        return True


def client_status(error: BaseException | None) -> int | None:
    """The status BentoML answers ERROR with where it is the client's doing (below 500): 400 for a validation
    error, a BentoMLException's own code; None for anything else."""
    if isinstance(error, ValidationError):
        return HTTPStatus.BAD_REQUEST
    status = getattr(error, "error_code", HTTPStatus.INTERNAL_SERVER_ERROR)
    return status if status < HTTPStatus.INTERNAL_SERVER_ERROR else None


def first_problem(error: BaseException) -> str:
    """A refusal in a line: a validation error's count and first problem, else the error's first line."""
    if not isinstance(error, ValidationError):
        return described(error)
    problems = error.errors(include_url=False)
    count = len(problems) + (problems[-1]["ctx"]["count"] - 1 if problems[-1]["type"] == "more_problems" else 0)
    return f"{count} problems, the first: {'.'.join(map(str, problems[0]['loc']))}: {problems[0]['msg']}"


logging.getLogger(REFUSALS_LOGGER).addFilter(ClientErrorsInOneLine())
Record = record_model(schema)
Records = Annotated[list[Record], WrapValidator(first_problems)]  # type: ignore[valid-type]
Prediction = response_model("Prediction", ANSWER_FIELDS[task.kind])
# attributions per raw column, in the units of the output explained (the calibrated logit, or the prediction
# through its link): base_value plus their sum is that output
Explanation = response_model("Explanation", EXPLANATION_FIELDS[task.kind]
                             | {"base_value": float, "attributions": dict[str, float]})


CARD = Path(__file__).resolve().parents[2] / "model_card.md"  # shipped beside the code by the release
LOG: dict[str, object] = {}  # the worker's log and shadow scorer, for the /metadata/log route


def rollout_of(env: dict) -> dict | None:
    """The rollout that `driftline serve` passed in ENV (DRIFTLINE_ROLLOUT_MODE, DRIFTLINE_CANDIDATE_VERSION,
    DRIFTLINE_CANDIDATE_TAG, DRIFTLINE_CANARY_SHARE), as GET /metadata shows it; None when none runs."""
    mode = env.get("DRIFTLINE_ROLLOUT_MODE")
    if not mode:
        return None
    if mode not in MODES:
        raise RegistryError(f"DRIFTLINE_ROLLOUT_MODE '{mode}' is not one of {', '.join(MODES)}")
    if mode == "canary" and not 0 < float(env.get("DRIFTLINE_CANARY_SHARE") or 0) < 1:
        raise RegistryError("a canary needs DRIFTLINE_CANARY_SHARE between 0 and 1")
    degraded = env.get("DRIFTLINE_ROLLOUT_DEGRADED") or None
    return {"mode": mode, "candidate": env.get("DRIFTLINE_CANDIDATE_VERSION"),
            "candidate_model_tag": env.get("DRIFTLINE_CANDIDATE_TAG") or None,
            "canary_share": float(env["DRIFTLINE_CANARY_SHARE"]) if mode == "canary" else None,
            "champion": env.get("DRIFTLINE_VERSION"),
            # without a log the shadow's answers would go nowhere: the candidate then scores nothing
            "shadow_scoring": bool(env.get("DRIFTLINE_LOG_URL")) and not degraded if mode == "shadow" else None,
            "degraded": degraded}


ROLLOUT = rollout_of(os.environ)
CANDIDATE_SERVED = ROLLOUT is not None and not ROLLOUT["degraded"]


def load_candidate(path: str | None, champion: Predictor) -> Predictor:
    """The rollout's candidate from its model folder PATH; refused unless it takes the champion's records and
    answers the same task (release.rollout.start refuses such a version too)."""
    if not path or not Path(path).is_dir():
        raise RegistryError(f"the rollout's candidate model folder '{path}' (DRIFTLINE_CANDIDATE_PATH) is not "
                            "there: start the service with `driftline serve`, which resolves it")
    candidate = Predictor.load(path)
    mine, theirs = champion.schema, candidate.schema
    if not mine.same_records(theirs):
        raise RegistryError(f"the candidate ({theirs.task} on {', '.join(theirs.features)}) does not answer the "
                            f"champion's task on the same features ({mine.task} on {', '.join(mine.features)}): "
                            "a rollout compares two models of the same records")
    return candidate


def metadata(request) -> JSONResponse:
    """Which model is serving, its card and schema, whether the registry's champion is still this one (null, with
    `registry_error` saying why, where the registry cannot be read), and the rollout beside it (null when none)."""
    version, champion, unreadable = os.environ.get("DRIFTLINE_VERSION"), None, None
    registry = os.environ.get("DRIFTLINE_REGISTRY")
    if registry:
        try:
            champion = champion_version(Path(registry))
        except RegistryError as exc:  # a damaged registry.json: the service goes on serving what it loaded
            unreadable = str(exc)
    return JSONResponse({
        "model_tag": MODEL_TAG, "version": version, "champion": champion, "registry_error": unreadable,
        "stale": None if champion is None or version is None else champion != version,
        "model_card": CARD.read_text() if CARD.is_file() else None,
        "model_card_path": f"registry/cards/{version}.md" if version else None,
        "schema": schema.model_dump(mode="json"),
        "rollout": ROLLOUT,
    })


def log_status(request, worker_log: dict = LOG) -> JSONResponse:  # bound now: a module reload keeps the app's
    """The inference log's counts: rows written, failed writes, dropped, dead-lettered, lost and pending rows, the
    last error; in a shadow rollout also the candidate's: records scored, failed, dropped and pending.

    With `?wait=S`, first waits up to S seconds (at most serve.timeout_s) until what was appended so far is
    written or dead-lettered, the shadow's records scored first; `settled` says whether it came to that."""
    log, shadow = worker_log.get("log"), worker_log.get("shadow")
    try:
        wait = min(float(request.query_params.get("wait", 0)), float(os.environ.get("DRIFTLINE_TIMEOUT_S", "10")))
    except ValueError:
        return JSONResponse({"error": "wait: a number of seconds"}, status_code=HTTPStatus.BAD_REQUEST)
    settled = {}
    if wait > 0:
        settled["settled"] = all(part.flush(wait) for part in (shadow, log) if part is not None)
    return JSONResponse({"enabled": log is not None} | (log.status() if log else {})
                        | ({"shadow": shadow.status()} if shadow else {}) | settled)


@bentoml.asgi_app(Starlette(routes=[Route("/", metadata), Route("/log", log_status)]), path="/metadata")
@bentoml.service(name="driftline", traffic={"timeout": float(os.environ.get("DRIFTLINE_TIMEOUT_S", "10"))})
class Driftline:
    model = model_ref

    def __init__(self) -> None:
        torch.set_num_threads(1)  # a request is a few rows: intra-op threads would only contend with the loop
        self.predictor = Predictor.load(self.model.path)
        self.batcher = Batcher(self.predictor.predict_columns)
        self.version = os.environ.get("DRIFTLINE_VERSION") or self.model.tag.version
        url, dead_letters = os.environ.get("DRIFTLINE_LOG_URL"), os.environ.get(DEAD_LETTERS_VARIABLE)
        self.log = LOG["log"] = InferenceLog(url, dead_letters=Path(dead_letters) if dead_letters else None
                                             ) if url else None
        self.explainer = None
        self.canary = self.shadow = LOG["shadow"] = None
        self.versions = {None: self.version, CHAMPION_ARM: self.version}
        if CANDIDATE_SERVED:
            candidate = load_candidate(os.environ.get("DRIFTLINE_CANDIDATE_PATH"), self.predictor)
            self.versions[CANDIDATE_ARM] = ROLLOUT["candidate"] or str(ROLLOUT["candidate_model_tag"]).split(":")[-1]
            if ROLLOUT["mode"] == "canary":
                self.canary = Batcher(candidate.predict_columns)
            elif self.log is not None:
                self.shadow = LOG["shadow"] = ShadowScorer(candidate.predict_columns, self._log_shadow)
        # Everything loaded so far lives as long as the worker: keep it out of the collector's full passes,
        # which otherwise stall every request for tens of milliseconds.
        gc.collect()
        gc.freeze()

    async def __is_ready__(self) -> bool:
        """Not ready once the log has lost rows (the dead-letter file refused them: a full or read-only disk):
        BentoML answers 503 at /readyz, so that the orchestrator stops sending records that would be lost too."""
        return self.log is None or not self.log.counts["lost"]

    @bentoml.on_shutdown
    async def close_log(self) -> None:
        for batcher in (self.batcher, self.canary):  # first: the answers of requests in flight go to the log
            if batcher is not None:
                await batcher.drain()
        if self.shadow is not None:  # then the shadow's last answers
            self.shadow.close()
        if self.log is not None:
            self.log.close()

    def _read(self, records: list) -> tuple[dict[str, list], list[str]]:
        """The records' feature columns and their ids (a new one where a record has none); 413 past max_records,
        422 for values the log could not store as they were scored (log.value_problems)."""
        if len(records) > self.predictor.max_records:
            raise BentoMLException(
                f"records: {len(records)} records in one request; at most {self.predictor.max_records} are allowed",
                error_code=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        columns = {name: [getattr(r, name) for r in records] for name in schema.features}
        problems = value_problems(columns, MAX_TEXT_CHARS)
        if problems:
            more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
            raise BentoMLException("values the service does not take: " + "; ".join(problems[:MAX_PROBLEMS]) + more,
                                   error_code=HTTPStatus.UNPROCESSABLE_ENTITY)
        return columns, [getattr(r, RECORD_ID) or uuid.uuid4().hex for r in records]

    @bentoml.api
    async def predict(self, records: Records = Field(min_length=1)) -> Annotated[list[Prediction], JSON_OUT]:  # type: ignore[valid-type]
        """Each record's answer, with its id: binary `probability` (of the positive label) and `label`;
        multiclass `label` and `probabilities` (per class); regression `prediction` and `interval` ([lower, upper])."""
        columns, ids = self._read(records)
        answers, arms = await self._answer(columns, ids)
        if self.log is not None:
            request_id, created = uuid.uuid4().hex, utc_now()
            self.log.append(self._rows(columns, ids, answers, arms, request_id, created))
            if self.shadow is not None:
                self.shadow.submit(columns, (columns, ids, request_id, created))
        return [Prediction(**{RECORD_ID: i}, **answer) for i, answer in zip(ids, answers)]

    async def _answer(self, columns: dict[str, list], ids: list[str]) -> tuple[list[dict], list[str | None]]:
        """Each record's answer and the arm that gave it (None outside a rollout). In canary the records are
        split by arm, each arm's scored by its own Batcher, and the answers put back in the request's order."""
        if self.canary is None:
            arm = CHAMPION_ARM if ROLLOUT is not None else None
            return answer_records(task, await self.batcher(columns)), [arm] * len(ids)
        arms = [canary_arm(i, ROLLOUT["canary_share"]) for i in ids]
        groups = {arm: [n for n, a in enumerate(arms) if a == arm] for arm in (CHAMPION_ARM, CANDIDATE_ARM)}
        groups = {arm: rows for arm, rows in groups.items() if rows}
        batchers = {CHAMPION_ARM: self.batcher, CANDIDATE_ARM: self.canary}
        scored = await asyncio.gather(*(batchers[arm](columns if len(rows) == len(ids) else
                                                      {name: [values[n] for n in rows] for name, values in
                                                       columns.items()}) for arm, rows in groups.items()))
        answers: list[dict] = [{}] * len(ids)
        for rows, result in zip(groups.values(), scored):
            for n, answer in zip(rows, answer_records(task, result)):
                answers[n] = answer
        return answers, arms

    def _rows(self, columns: dict[str, list], ids: list[str], answers: list[dict], arms: list[str | None],
              request_id: str, created, shadow: bool = False) -> list[dict]:
        """The log's rows of one request's records: each with the arm that scored it and that arm's version;
        SHADOW marks answers that were not sent (None outside a rollout, as before rollouts)."""
        return [{"request_id": request_id, "record_id": i, "created": created, "model_version": self.versions[arm],
                 "features": {name: columns[name][n] for name in schema.features}, "arm": arm,
                 "shadow": shadow if arm else None} | logged(answer)
                for n, (i, answer, arm) in enumerate(zip(ids, answers, arms))]

    def _log_shadow(self, context: tuple, answers: Answers) -> None:
        """The candidate's answers to one request's records (on ShadowScorer's thread) to the log, marked shadow,
        under the same record ids and request id as the champion's."""
        columns, ids, request_id, created = context
        self.log.append(self._rows(columns, ids, answer_records(task, answers), [CANDIDATE_ARM] * len(ids),
                                   request_id, created, shadow=True))

    @bentoml.api
    def explain(self, records: Records = Field(min_length=1)) -> Annotated[list[Explanation], JSON_OUT]:  # type: ignore[valid-type]
        """SHAP attributions per raw column (the audit's explainer) of each record's output: the calibrated logit
        (binary), the predicted class's calibrated logit (multiclass), the prediction through the target's link
        (regression: the prediction itself, or its log); with the answer and the base value they add up from.
        Always the champion's, in a rollout too."""
        columns, ids = self._read(records)
        if self.explainer is None:
            from driftline.core.explain import Explainer  # shap is imported on the first explanation, not at start

            self.explainer = Explainer.load(self.predictor, self.model.path)
        result = self.explainer.explain_columns(columns)
        return [Explanation(**{RECORD_ID: i}, **row) for i, row in zip(ids, result)]


TOKEN = os.environ.get(TOKEN_VARIABLE)
if TOKEN:  # first: a caller without the token is refused before its body is read
    Driftline.add_asgi_middleware(BearerToken, token=TOKEN)
Driftline.add_asgi_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
