"""Service benchmark: `driftline serve` under concurrent clients sending single-record requests, with the
inference log on and off.

Run from the project root after `make run` (a champion must be registered): `python benchmarks/serve.py
[--clients 32] [--requests 10000] [--rounds 3]`. It starts `driftline serve` twice on free loopback ports,
one logging into a scratch SQLite file and one with the log off, warms both up, then alternates ROUNDS
rounds per mode of REQUESTS one-record POST /predict requests from CLIENTS concurrent aiohttp clients
(alternating, so that both modes see the same noisy machine), then stops both with SIGTERM. It prints and
writes (benchmarks/results/serve.json) per mode the median requests per second, p50 and p99 latency over
all rounds and the error count,
the log-on/log-off throughput ratio, whether every answered record reached the log, and the ratio to an
in-process loop of the bare Predictor over the same records (the ceiling without HTTP).

The client is aiohttp, not httpx: on these 2 cores httpx spent about 3 ms of CPU per request, which made
the client, not the service, the bottleneck of the measurement.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftline.config import load_params
from driftline.core.artifacts import write_json
from driftline.core.data import read_csv
from driftline.registry.infra import free_port, process_group, records, wait_ready
from driftline.registry.resolver import resolve_model
from driftline.serving.log import read_window

OUT = Path("benchmarks/results/serve.json")


async def load(url: str, bodies: list[bytes], clients: int, requests: int) -> tuple[list[float], int, float]:
    """Latencies (seconds) of every request, the number of errors, and the wall time."""
    latencies, errors, sent = [], 0, iter(range(requests))
    headers = {"content-type": "application/json"}

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in sent:
            started = time.perf_counter()
            try:
                async with http.post(f"{url}/predict", data=bodies[i % len(bodies)], headers=headers) as answer:
                    await answer.read()
                    ok = answer.status == 200
            except aiohttp.ClientError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - started


def serve(log_url: str | None, stack: ExitStack) -> str:
    """`driftline serve` with the log into LOG_URL (None: log off), ready; its URL. Stopped (SIGTERM) with STACK."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port),
               "--log" if log_url else "--no-log"]
    server = stack.enter_context(process_group(command, env=os.environ | ({"DRIFTLINE_LOG_URL": log_url}
                                                                        if log_url else {})))
    if wait_ready(url, server, 120) is None:
        raise SystemExit("driftline serve did not become ready in 120 s")
    return url


def summarise(rounds: list[tuple[list[float], int, float]], requests: int) -> dict:
    """Median throughput over the rounds; latency percentiles over every request of every round."""
    ms = np.concatenate([np.array(latencies) for latencies, _, _ in rounds]) * 1000
    return {"requests_per_s": float(np.median([requests / seconds for _, _, seconds in rounds])),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "errors": sum(errors for _, errors, _ in rounds)}


def main(clients: int = typer.Option(32, min=1), requests: int = typer.Option(10000, min=1),
         rounds_per_mode: int = typer.Option(3, "--rounds", min=1, help="alternating rounds per mode"),
         batch: str = typer.Option("examples/batch.csv", help="CSV whose rows are sent, one per request")) -> None:
    params = load_params()
    frame = read_csv(batch, params.schema, params.data.na_values)
    rows = records(frame[params.schema.features])
    bodies = [json.dumps({"records": [row]}).encode() for row in rows]
    predictor = resolve_model(params, Path("."), "champion").predictor()
    columns = [{name: [row[name]] for name in params.schema.features} for row in rows]
    started = time.perf_counter()
    for i in range(requests):
        predictor.predict_columns(columns[i % len(columns)])
    bare = requests / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        log_url = f"sqlite:///{Path(scratch) / 'inference.db'}"
        urls = {"log on": serve(log_url, stack), "log off": serve(None, stack)}
        rounds = {mode: [] for mode in urls}
        for url in urls.values():
            asyncio.run(load(url, bodies, clients, min(requests, 1000)))  # warm up
        for _ in range(rounds_per_mode):  # alternate, so that both modes see the same machine
            for mode, url in urls.items():
                rounds[mode].append(asyncio.run(load(url, bodies, clients, requests)))
        stack.close()  # SIGTERM: the service writes what it has queued before it exits
        modes = {mode: summarise(found, requests) for mode, found in rounds.items()}
        answered = (min(requests, 1000) + rounds_per_mode * requests) - modes["log on"]["errors"]
        modes["log on"]["every_answer_logged"] = len(read_window(log_url, "_target")) == answered
    result = {"clients": clients, "requests": requests, "bare_predictor_per_s": bare} | {
        f"{mode} {key}": value for mode, figures in modes.items() for key, value in figures.items()} | {
        "log on / log off throughput": modes["log on"]["requests_per_s"] / modes["log off"]["requests_per_s"],
        "log on / bare predictor": modes["log on"]["requests_per_s"] / bare}
    table = Table("measure", "value", title=f"driftline serve: {clients} clients, {requests} one-record requests")
    for key, value in result.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    write_json(OUT, result)


if __name__ == "__main__":
    typer.run(main)
