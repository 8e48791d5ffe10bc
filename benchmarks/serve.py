"""Service benchmark: `driftline serve` under concurrent clients sending single-record requests, with the
inference log on and off.

Run from the project root after `make run` (a champion must be registered): `python benchmarks/serve.py
[--clients 32] [--requests 10000]`. For each mode (log on, into a scratch SQLite file; log off) it starts
`driftline serve` on a free loopback port, warms it up, sends REQUESTS one-record POST /predict requests
from CLIENTS concurrent aiohttp clients, then stops it with SIGTERM. It prints and writes
(benchmarks/results/serve.json) requests per second, p50 and p99 latency and the error count per mode,
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
from pathlib import Path

import aiohttp
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftline.artifacts import write_json
from driftline.config import load_params
from driftline.data import read_csv
from driftline.package import predictor_for
from driftline.registry.infra import free_port, process_group, records, wait_ready
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


def measure(bodies: list[bytes], clients: int, requests: int, log_url: str | None) -> dict:
    """One mode: serve, warm up, load, SIGTERM; with a log, count the rows it holds afterwards."""
    port, warm = free_port(), min(requests, 1000)
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port)]
    command.append("--log" if log_url else "--no-log")
    env = {"DRIFTLINE_LOG_URL": log_url} if log_url else {}
    with process_group(command, env=os.environ | env) as server:
        if wait_ready(url, server, 120) is None:
            raise SystemExit("driftline serve did not become ready in 120 s")
        asyncio.run(load(url, bodies, clients, warm))
        latencies, errors, seconds = asyncio.run(load(url, bodies, clients, requests))
    ms = np.array(latencies) * 1000
    result = {"requests_per_s": requests / seconds, "p50_ms": float(np.percentile(ms, 50)),
              "p99_ms": float(np.percentile(ms, 99)), "errors": errors}
    if log_url:
        result["logged_rows"] = len(read_window(log_url, "_target"))
        result["every_answer_logged"] = result["logged_rows"] == requests + warm - errors
    return result


def main(clients: int = typer.Option(32, min=1), requests: int = typer.Option(10000, min=1),
         batch: str = typer.Option("examples/batch.csv", help="CSV whose rows are sent, one per request")) -> None:
    params = load_params()
    frame = read_csv(batch, params.schema, params.data.na_values)
    rows = records(frame[params.schema.features])
    bodies = [json.dumps({"records": [row]}).encode() for row in rows]
    _, predictor = predictor_for(params, Path("."), "champion")
    columns = [{name: [row[name]] for name in params.schema.features} for row in rows]
    started = time.perf_counter()
    for i in range(requests):
        predictor.predict_columns(columns[i % len(columns)])
    bare = requests / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as scratch:
        modes = {"log on": measure(bodies, clients, requests, f"sqlite:///{Path(scratch) / 'inference.db'}"),
                 "log off": measure(bodies, clients, requests, None)}
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
