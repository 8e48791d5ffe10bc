"""Service benchmark: `driftline serve` under concurrent clients sending single-record requests.

Run from the project root after `make run` (a champion must be registered): `python benchmarks/serve.py
[--clients 32] [--requests 10000]`. Starts `driftline serve` on a free loopback port, sends REQUESTS
one-record POST /predict requests from CLIENTS concurrent asyncio clients, and prints and writes
(benchmarks/results/serve.json) requests per second, p50 and p99 latency, the error count, and the
ratio to an in-process loop of the bare Predictor over the same records (the ceiling without HTTP).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftline.artifacts import write_json
from driftline.config import load_params
from driftline.data import read_csv
from driftline.package import predictor_for
from driftline.registry.infra import free_port, process_group, records, wait_ready

OUT = Path("benchmarks/results/serve.json")


async def load(url: str, rows: list[dict], clients: int, requests: int) -> tuple[list[float], int]:
    """Latencies (seconds) of every answered request, and the number of errors."""
    latencies, errors, sent = [], 0, iter(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in sent:
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/predict", json={"records": [rows[i % len(rows)]]})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return latencies, errors


def main(clients: int = typer.Option(32, min=1), requests: int = typer.Option(10000, min=1),
         batch: str = typer.Option("examples/batch.csv", help="CSV whose rows are sent, one per request")) -> None:
    params = load_params()
    frame = read_csv(batch, params.schema, params.data.na_values)
    rows = records(frame[params.schema.features])
    _, predictor = predictor_for(params, Path("."), "champion")
    columns = [{name: [row[name]] for name in params.schema.features} for row in rows]
    started = time.perf_counter()
    for i in range(requests):
        predictor.predict_columns(columns[i % len(columns)])
    bare = requests / (time.perf_counter() - started)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process_group([str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port)]) as server:
        if wait_ready(url, server, 120) is None:
            raise SystemExit("driftline serve did not become ready in 120 s")
        asyncio.run(load(url, rows, clients, min(requests, 500)))  # warm up
        started = time.perf_counter()
        latencies, errors = asyncio.run(load(url, rows, clients, requests))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    result = {"clients": clients, "requests": requests, "requests_per_s": requests / seconds,
              "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "errors": errors,
              "bare_predictor_per_s": bare, "ratio_to_bare": requests / seconds / bare}
    table = Table("measure", "value", title=f"driftline serve: {clients} clients, {requests} one-record requests")
    for key, value in result.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    write_json(OUT, result)


if __name__ == "__main__":
    typer.run(main)
