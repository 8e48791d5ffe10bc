"""Load-and-query check of a built bento (TFX InfraValidator's LOAD_AND_QUERY), before any promotion.

The bento is served on a free loopback port, must become ready within a time budget, then answers
real test rows one request each: every answer a 200, in range (probabilities in [0, 1], a regression's
prediction inside its interval), equal to offline scoring (the same labels, numbers within 1e-6, relative
for a regression's target units), and the p99 latency within budget. The server is stopped whatever happens.
Where the environment sets an API token, the server starts with it and every query sends it: the check
then also proves that the token guard lets a real client through.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd

from driftline.config import InfraParams
from driftline.core.data import records
from driftline.core.processes import free_port, process_group, wait_ready
from driftline.serving.answers import answer_columns
from driftline.serving.auth import TOKEN_VARIABLE

if TYPE_CHECKING:
    from driftline.core.predictor import Predictor
    from driftline.core.task import Task

TOLERANCE = 1e-6


def bearer(token: str | None) -> dict[str, str]:
    """The headers a client of a service started with TOKEN sends: `Authorization: Bearer TOKEN`; none without one
    (the service then has no guard, as it reads the variable)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def query(url: str, rows: list[dict], expected: pd.DataFrame, task: Task, headers: dict[str, str]) -> dict:
    """Send each row alone with HEADERS; count non-200s, answers out of range and answers unlike EXPECTED (offline
    scoring's task.output_columns, a row per row), and time every request."""
    latencies, answers = [], []
    with httpx.Client(timeout=30, headers=headers) as client:
        for row in rows:
            started = time.perf_counter()
            answer = client.post(f"{url}/predict", json={"records": [row]})
            latencies.append((time.perf_counter() - started) * 1000)
            answers.append(answer.json()[0] if answer.status_code == 200 else None)
    ok = np.array([a is not None for a in answers])
    served = pd.DataFrame(answer_columns(task, [a for a in answers if a is not None]), columns=expected.columns)
    return {"requests": len(rows), "non_200": int((~ok).sum()),
            "mismatches": int(unlike(served, expected[ok].reset_index(drop=True)).sum()),
            "out_of_range": int(out_of_range(served, task).sum()),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2)}


def unlike(served: pd.DataFrame, expected: pd.DataFrame) -> np.ndarray:
    """Per row: whether a served answer differs from the expected one (same columns): a label, or a number
    beyond TOLERANCE (relative to its size too, for a regression's units)."""
    differs = np.zeros(len(served), dtype=bool)
    for name in expected.columns:
        want, got = expected[name].to_numpy(), served[name].to_numpy()
        if pd.api.types.is_numeric_dtype(expected[name]):
            differs |= ~np.isclose(got.astype(float), want.astype(float), rtol=TOLERANCE, atol=TOLERANCE)
        else:
            differs |= got != want
    return differs


def out_of_range(served: pd.DataFrame, task: Task) -> np.ndarray:
    """Per row: a probability outside [0, 1] (classification), a prediction outside its interval (regression)."""
    if task.kind == "regression":
        prediction, lower, upper = (served[k].to_numpy(float) for k in ("prediction", "lower", "upper"))
        return ~((lower <= prediction) & (prediction <= upper))
    numbers = served.select_dtypes("number").to_numpy(float)
    return ~((numbers >= 0) & (numbers <= 1)).all(axis=1)


def load_and_query(bento_tag: str, model_tag: str, predictor: Predictor, frame: pd.DataFrame,
                   params: InfraParams) -> dict:
    """Serve BENTO_TAG with MODEL_TAG, query it with FRAME's rows, compare its answers with PREDICTOR's (the
    same model, scored offline), stop it.

    Returns the measurements and the verdict. The model tag is passed to the server explicitly: a local
    `bentoml serve` does not apply the environment recorded in the bento. The server inherits this process's
    environment, API token included, and every query sends that token.
    """
    expected = predictor.predict(frame)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bentoml", "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    env = os.environ | {"DRIFTLINE_MODEL_TAG": model_tag}
    with process_group(command, env=env) as server:
        ready_s = wait_ready(url, server, params.startup_timeout_s)
        if ready_s is None:
            return {"passed": False, "ready_s": None,
                    "reason": f"not ready within {params.startup_timeout_s} s (exit code {server.poll()})"}
        answered = query(url, records(frame), expected, predictor.task, bearer(env.get(TOKEN_VARIABLE)))
        result = {"ready_s": round(ready_s, 2)} | answered
    problems = [f"{result[k]} {k.replace('_', ' ')}" for k in ("non_200", "mismatches", "out_of_range") if result[k]]
    if result["p99_ms"] > params.max_p99_ms:
        problems.append(f"p99 {result['p99_ms']} ms above {params.max_p99_ms} ms")
    return result | {"passed": not problems, "reason": "; ".join(problems)}
