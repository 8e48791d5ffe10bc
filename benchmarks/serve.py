"""Service benchmark: `driftline serve` under concurrent clients sending single-record requests, with the
inference log on and off, in a shadow rollout, side by side with a floor service that does no model work.

Run from the project root after `make run` (a champion must be registered): `python benchmarks/serve.py
[--clients 32] [--requests 10000] [--rounds 3]`, on an otherwise quiet machine. It starts four services
on free loopback ports, each `bentoml serve` with one worker and the same timeout: `driftline serve`
logging into a scratch SQLite file, `driftline serve --no-log`, the same bento in a shadow rollout (logging
into a scratch file of its own, with the registry's candidate if a rollout runs, else a second copy of the
champion as the candidate: the same work), and the floor (benchmarks/floor_service.py: the same request model,
built from the champion's schema, answering a constant). It warms each up, then runs ROUNDS rounds in which
each service in turn gets REQUESTS one-record POST /predict requests from CLIENTS concurrent aiohttp clients
(alternating, so that all of them see the same noisy machine), and stops them with SIGTERM. Per service: the
median requests per second over the rounds, p50 and p99 latency over every request of every round, and
the errors (any answer but 200, or no answer); driftline's throughput and p99 as ratios to the floor's, and
shadow's as ratios to single-model serving's (log on); the CPU time per request of the service's processes
and of the client (where the time goes); whether every answered record reached the log (in shadow, in both
arms); and a tight in-process loop of the bare Predictor over the same records (one torch thread, as in the service).
Prints the tables and records them in benchmarks/results/serve.json (benchmarks/record.py).

The goal (issue 16): with the log on, at least 0.9 of the floor's throughput, 0 errors, and a p99 no
worse than the floor's. Issue 20's: shadow adds at most 30% to the p99 of single-model serving (log on),
and every record it answered has its candidate's row in the log.

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
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import numpy as np
import psutil
import torch
import typer

from driftline.config import load_params
from driftline.core.data import read_csv, records
from driftline.core.processes import free_port, process_group, wait_ready
from driftline.registry.resolver import resolve, resolve_model, serving_bento
from driftline.registry.store import CANDIDATE, Registry
from driftline.serving.log import read_window

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file

HERE = Path(__file__).resolve().parent
GOAL = 0.9  # the floor's throughput share that driftline must reach with the log on
SHADOW_P99 = 1.3  # the most that shadow may multiply single-model serving's p99 by (issue 20)
SINGLE, SHADOW = "driftline, log on", "driftline, shadow"


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


def shadow_env(params, champion, log_url: str) -> dict[str, str]:
    """What `driftline serve` passes its bento in a shadow rollout: the registry's candidate where a rollout runs,
    else the champion's own model as the candidate (the same work as a candidate of the same architecture)."""
    registry = Registry(Path(".") / params.registry.dir)
    candidate = resolve(registry, CANDIDATE) if registry.rollout is not None else champion
    return {"DRIFTLINE_VERSION": champion.entry["version"], "DRIFTLINE_MODEL_TAG": champion.entry["model_tag"],
            "DRIFTLINE_LOG_URL": log_url, "DRIFTLINE_TIMEOUT_S": str(params.serve.timeout_s),
            "DRIFTLINE_ROLLOUT_MODE": "shadow", "DRIFTLINE_CANDIDATE_VERSION": candidate.entry["version"],
            "DRIFTLINE_CANDIDATE_TAG": candidate.entry["model_tag"], "DRIFTLINE_CANDIDATE_PATH": str(candidate.path),
            "DRIFTLINE_CANARY_SHARE": ""}


def services(params, champion, log_urls: dict[str, str], stack: ExitStack) -> dict[str, tuple]:
    """The four services, served the same way (`bentoml serve`, loopback, one worker, the same timeout)."""
    driftline = [str(Path(sys.executable).parent / "driftline"), "serve"]
    bento, _ = serving_bento(params, Path("."), "champion")  # the one `driftline serve` serves
    shadow = [sys.executable, "-m", "bentoml", "serve", bento, "--host", "127.0.0.1"]
    floor = [sys.executable, "-m", "bentoml", "serve", "floor_service:Floor", "--working-dir", str(HERE),
             "--host", "127.0.0.1"]
    served = {SINGLE: started([*driftline, "--log"], {"DRIFTLINE_LOG_URL": log_urls[SINGLE]}, stack),
              "driftline, log off": started([*driftline, "--no-log"], {}, stack),
              SHADOW: started(shadow, shadow_env(params, champion, log_urls[SHADOW]), stack),
              "floor (no model work)": started(floor, {"DRIFTLINE_MODEL_TAG": champion.entry["model_tag"],
                                                       "DRIFTLINE_TIMEOUT_S": str(params.serve.timeout_s)}, stack)}
    with urllib.request.urlopen(f"{served[SHADOW][0]}/metadata") as answer:
        if json.load(answer).get("rollout") is None:
            raise SystemExit(f"bento {bento} was built before rollouts: remove it from the BentoML store "
                             "(`bentoml delete`), and `driftline serve` builds it again from this code")
    return served


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


def tables(figures: dict[str, dict], clients: int, requests: int, rounds: int, bare: float, logged: dict) -> list[dict]:
    """The run as the results contract's tables; LOGGED: whether every answered record reached the log, with the
    log on and in shadow (there with its candidate's row)."""
    floor = figures["floor (no model work)"]
    on, off, shadow = figures[SINGLE], figures["driftline, log off"], figures[SHADOW]
    rows = [[name, round(f["requests_per_s"], 1), round(f["p50_ms"], 1), round(f["p99_ms"], 1), f["errors"],
             round(f["requests_per_s"] / floor["requests_per_s"], 3), round(f["p99_ms"] / floor["p99_ms"], 3)]
            for name, f in figures.items()]
    cpu = [[name, round(f["wall_ms"], 3), round(f["server_cpu_ms"], 3), round(f["client_cpu_ms"], 3),
            round(f["server_cpu_ms"] - floor["server_cpu_ms"], 3)] for name, f in figures.items()]
    met = (on["requests_per_s"] >= GOAL * floor["requests_per_s"] and on["errors"] == 0
           and on["p99_ms"] <= floor["p99_ms"])
    p99_ratio, throughput_ratio = shadow["p99_ms"] / on["p99_ms"], shadow["requests_per_s"] / on["requests_per_s"]
    shadow_met = p99_ratio <= SHADOW_P99 and shadow["errors"] == 0 and logged[SHADOW]
    return [
        record.table(f"Services side by side: {clients} clients, {requests} one-record requests per round, "
                     f"{rounds} rounds each",
                     ["service", "req/s", "p50 ms", "p99 ms", "errors", "throughput / floor", "p99 / floor"], rows,
                     note="req/s: median over the rounds; p50 and p99 over every request of every round. All three "
                          "are bentoml serve on loopback with one worker, driven in alternating rounds by the same "
                          "aiohttp client on the same machine."),
        record.table(f"Shadow against single-model serving: {clients} clients",
                     ["service", "req/s", "p50 ms", "p99 ms", "errors", "service CPU ms / request"],
                     [[name, round(f["requests_per_s"], 1), round(f["p50_ms"], 1), round(f["p99_ms"], 1), f["errors"],
                       round(f["server_cpu_ms"], 3)] for name, f in ((SINGLE, on), (SHADOW, shadow))]
                     + [["shadow / single", round(throughput_ratio, 3), round(shadow["p50_ms"] / on["p50_ms"], 3),
                         round(p99_ratio, 3), None, round(shadow["server_cpu_ms"] / on["server_cpu_ms"], 3)]],
                     note=f"Both log every answer; shadow also scores each record with the candidate on a thread of "
                          f"its own, in batches, and logs that row. Ratios: shadow's p99 is {p99_ratio:.2f}x and its "
                          f"throughput {throughput_ratio:.2f}x single-model serving's (goal: p99 at most "
                          f"{SHADOW_P99}x)."),
        record.table("Checks", ["measure", "value"], [
            [f"goal: log on >= {GOAL} of the floor's throughput, 0 errors, p99 <= the floor's", met],
            ["every answered record reached the log (log on)", logged[SINGLE]],
            ["every answered record reached the log in both arms (shadow)", logged[SHADOW]],
            [f"goal: shadow p99 <= {SHADOW_P99} x single-model p99, 0 errors, every answered record logged in both "
             "arms", shadow_met],
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
        log_urls = {name: f"sqlite:///{Path(scratch) / name.replace(', ', '-')}.db" for name in (SINGLE, SHADOW)}
        urls = services(params, champion, log_urls, stack)
        found = {name: [] for name in urls}
        warm_up_errors = {name: asyncio.run(load(url, bodies, clients, warm_up))[1] for name, (url, _) in urls.items()}
        for _ in range(rounds):  # alternate, so that every service sees the same machine
            for name, (url, server) in urls.items():
                found[name].append(measured(url, server, bodies, clients, requests))
        stack.close()  # SIGTERM: the service writes what it has queued before it exits
        figures = {name: summarise(measured, requests) for name, measured in found.items()}
        # the log's rows against every answer the logging services gave, in the warm-up too; shadow's hold a
        # champion's and a candidate's row for each record
        logged = {}
        for name in (SINGLE, SHADOW):
            answered = warm_up + rounds * requests - warm_up_errors[name] - figures[name]["errors"]
            window = read_window(log_urls[name], predictor.schema, arms=True)
            logged[name] = len(window) == answered * (2 if name == SHADOW else 1) and (
                name == SINGLE or window.groupby("record_id")["arm"].nunique().eq(2).all())
    record.publish("serve", tables(figures, clients, requests, rounds, bare, logged))


if __name__ == "__main__":
    typer.run(main)
