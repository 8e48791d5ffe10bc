"""Service benchmark: `driftline serve` under concurrent clients sending single-record requests, with the
inference log on and off, side by side with a floor service that does no model work.

Run from the project root after `make run` (a champion must be registered): `python benchmarks/serve.py
[--clients 32] [--requests 10000] [--rounds 3]`, on an otherwise quiet machine. It starts three services
on free loopback ports, each `bentoml serve` with one worker and the same timeout: `driftline serve`
logging into a scratch SQLite file, `driftline serve --no-log`, and the floor (benchmarks/floor_service.py:
the same request model, built from the champion's schema, answering a constant). It warms each up, then
runs ROUNDS rounds in which each service in turn gets REQUESTS one-record POST /predict requests from
CLIENTS concurrent aiohttp clients (alternating, so that all three see the same noisy machine), and stops
them with SIGTERM. Per service: the median requests per second over the rounds, p50 and p99 latency over
every request of every round, and the errors (any answer but 200, or no answer); driftline's throughput
and p99 as ratios to the floor's; the CPU time per request of the service's processes and of the client
(where the time goes); whether every record answered with the log on reached the log; and a tight
in-process loop of the bare Predictor over the same records (one torch thread, as in the service).
Prints the tables and records them in benchmarks/results/serve.json (benchmarks/record.py).

The goal (issue 16): with the log on, at least 0.9 of the floor's throughput, 0 errors, and a p99 no
worse than the floor's.

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
import psutil
import torch
import typer

from driftline.config import load_params
from driftline.core.data import read_csv
from driftline.registry.infra import free_port, process_group, records, wait_ready
from driftline.registry.resolver import resolve_model
from driftline.serving.log import read_window

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file

HERE = Path(__file__).resolve().parent
GOAL = 0.9  # the floor's throughput share that driftline must reach with the log on


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
            except (aiohttp.ClientError, asyncio.TimeoutError):
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - started


def started(command: list[str], env: dict, stack: ExitStack) -> tuple[str, psutil.Process]:
    """COMMAND (a server taking --port) on a free loopback port, ready: its URL and process. Stopped (SIGTERM)
    with STACK."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = stack.enter_context(process_group([*command, "--port", str(port)], env=os.environ | env))
    if wait_ready(url, server, 120) is None:
        raise SystemExit(f"{' '.join(command)} did not become ready in 120 s (exit code {server.poll()})")
    return url, psutil.Process(server.pid)


def cpu_seconds(server: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by SERVER and every process below it (BentoML's workers)."""
    total = 0.0
    for process in [server, *server.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measured(url: str, server: psutil.Process, bodies: list[bytes], clients: int, requests: int) -> dict:
    """One round: every latency (s), the errors, the wall time, and the CPU seconds of the service and the client."""
    server_before, client_before = cpu_seconds(server), time.process_time()
    latencies, errors, wall = asyncio.run(load(url, bodies, clients, requests))
    return {"latencies": latencies, "errors": errors, "wall_s": wall,
            "server_cpu_s": cpu_seconds(server) - server_before, "client_cpu_s": time.process_time() - client_before}


def services(model_tag: str, timeout_s: float, log_url: str, stack: ExitStack) -> dict[str, tuple]:
    """The three services, served the same way (`bentoml serve`, loopback, one worker, the same timeout)."""
    driftline = [str(Path(sys.executable).parent / "driftline"), "serve"]
    floor = [sys.executable, "-m", "bentoml", "serve", "floor_service:Floor", "--working-dir", str(HERE),
             "--host", "127.0.0.1"]
    return {"driftline, log on": started([*driftline, "--log"], {"DRIFTLINE_LOG_URL": log_url}, stack),
            "driftline, log off": started([*driftline, "--no-log"], {}, stack),
            "floor (no model work)": started(floor, {"DRIFTLINE_MODEL_TAG": model_tag,
                                                     "DRIFTLINE_TIMEOUT_S": str(timeout_s)}, stack)}


def summarise(rounds: list[dict], requests: int) -> dict:
    """Median throughput over the rounds; latency percentiles over every request of every round; CPU per request."""
    ms = np.concatenate([np.array(r["latencies"]) for r in rounds]) * 1000
    return {"requests_per_s": float(np.median([requests / r["wall_s"] for r in rounds])),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "errors": sum(r["errors"] for r in rounds),
            "server_cpu_ms": 1000 * sum(r["server_cpu_s"] for r in rounds) / (requests * len(rounds)),
            "client_cpu_ms": 1000 * sum(r["client_cpu_s"] for r in rounds) / (requests * len(rounds)),
            "wall_ms": 1000 * sum(r["wall_s"] for r in rounds) / (requests * len(rounds)),
            "rounds_per_s": [requests / r["wall_s"] for r in rounds]}


def bare_predictor(predictor, columns: list[dict], requests: int) -> float:
    """Records per second of predict_columns on one record at a time, in this process, one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i in range(min(requests, 200)):  # warm up
            predictor.predict_columns(columns[i % len(columns)])
        began = time.perf_counter()
        for i in range(requests):
            predictor.predict_columns(columns[i % len(columns)])
        return requests / (time.perf_counter() - began)
    finally:
        torch.set_num_threads(threads)


def tables(figures: dict[str, dict], clients: int, requests: int, rounds: int, bare: float, logged: bool) -> list[dict]:
    """The run as the results contract's tables."""
    floor = figures["floor (no model work)"]
    on, off = figures["driftline, log on"], figures["driftline, log off"]
    rows = [[name, round(f["requests_per_s"], 1), round(f["p50_ms"], 1), round(f["p99_ms"], 1), f["errors"],
             round(f["requests_per_s"] / floor["requests_per_s"], 3), round(f["p99_ms"] / floor["p99_ms"], 3)]
            for name, f in figures.items()]
    cpu = [[name, round(f["wall_ms"], 3), round(f["server_cpu_ms"], 3), round(f["client_cpu_ms"], 3),
            round(f["server_cpu_ms"] - floor["server_cpu_ms"], 3)] for name, f in figures.items()]
    met = (on["requests_per_s"] >= GOAL * floor["requests_per_s"] and on["errors"] == 0
           and on["p99_ms"] <= floor["p99_ms"])
    return [
        record.table(f"Services side by side: {clients} clients, {requests} one-record requests per round, "
                     f"{rounds} rounds each",
                     ["service", "req/s", "p50 ms", "p99 ms", "errors", "throughput / floor", "p99 / floor"], rows,
                     note="req/s: median over the rounds; p50 and p99 over every request of every round. All three "
                          "are bentoml serve on loopback with one worker, driven in alternating rounds by the same "
                          "aiohttp client on the same machine."),
        record.table("Checks", ["measure", "value"], [
            [f"goal: log on >= {GOAL} of the floor's throughput, 0 errors, p99 <= the floor's", met],
            ["every answered record reached the log (log on)", logged],
            ["log on / log off throughput", round(on["requests_per_s"] / off["requests_per_s"], 3)],
            ["bare Predictor in a tight loop in process, records/s (one record per call, one torch thread)",
             round(bare, 1)],
            ["bare Predictor, ms per record", round(1000 / bare, 3)],
            ["log on / bare Predictor throughput", round(on["requests_per_s"] / bare, 3)],
        ]),
        record.table("Where the time goes: milliseconds per request", ["service", "wall", "service CPU", "client CPU",
                                                                       "service CPU over the floor's"], cpu,
                     note="CPU: user + system seconds of the service's processes (BentoML's arbiter and worker) and "
                          "of the client, over every round, per request. Service CPU equal to wall means its one "
                          "worker is saturated."),
        record.table("Throughput per round (req/s)", ["round", *figures],
                     [[n + 1, *(round(f["rounds_per_s"][n], 1) for f in figures.values())] for n in range(rounds)]),
    ]


def main(clients: int = typer.Option(32, min=1), requests: int = typer.Option(10000, min=1),
         rounds: int = typer.Option(3, "--rounds", min=1, help="alternating rounds per service"),
         batch: str = typer.Option("examples/batch.csv", help="CSV whose rows are sent, one per request")) -> None:
    params = load_params()
    frame = read_csv(batch, params.schema, params.data.na_values)
    rows = records(frame[params.schema.features])
    bodies = [json.dumps({"records": [row]}).encode() for row in rows]
    champion = resolve_model(params, Path("."), "champion")
    columns = [{name: [row[name]] for name in params.schema.features} for row in rows]
    predictor = champion.predictor()
    bare = bare_predictor(predictor, columns, requests)

    warm_up = min(requests, 1000)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        log_url = f"sqlite:///{Path(scratch) / 'inference.db'}"
        urls = services(champion.entry["model_tag"], params.serve.timeout_s, log_url, stack)
        found = {name: [] for name in urls}
        warm_up_errors = {name: asyncio.run(load(url, bodies, clients, warm_up))[1] for name, (url, _) in urls.items()}
        for _ in range(rounds):  # alternate, so that every service sees the same machine
            for name, (url, server) in urls.items():
                found[name].append(measured(url, server, bodies, clients, requests))
        stack.close()  # SIGTERM: the service writes what it has queued before it exits
        figures = {name: summarise(measured, requests) for name, measured in found.items()}
        # the log's rows against every answer the logging service gave, in the warm-up too
        on = "driftline, log on"
        answered = warm_up + rounds * requests - warm_up_errors[on] - figures[on]["errors"]
        logged = len(read_window(log_url, predictor.schema)) == answered
    record.publish("serve", tables(figures, clients, requests, rounds, bare, logged))


if __name__ == "__main__":
    typer.run(main)
