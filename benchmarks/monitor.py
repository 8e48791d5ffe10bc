"""Monitoring benchmark: `driftline monitor` on a 100k-row batch, from the command line, start-up included.

Run from the project root after `make run` (`make bench-monitor`; it needs a champion). The batch is the
project's data sampled with replacement and jittered as benchmarks/scale.py does, with its labels. Each run
is a fresh process in a scratch folder that links the project's params.yaml, dvc.yaml, registry and
artifacts, so its reports and alerts stay out of the project's own. Records the seconds and peak RSS of
each run and their median, and the start-up alone (a process that imports the command and monitoring and
exits), in benchmarks/results/monitor.json (benchmarks/record.py). The target: at most 15 s on 2 cores.

With --days, a backfill too: an inference log of DAYS daily windows of --day-rows records (the jittered rows,
answered by the champion, written as the service writes them), then `driftline monitor --from --to --every 1d`
once, start-up included. The target: 30 windows of 10k rows in at most 3 minutes.

    python benchmarks/monitor.py --rows 100000 --runs 3 --days 30 --day-rows 10000
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import typer

from driftline.config import load_params
from driftline.core.artifacts import dvc_env
from driftline.registry.resolver import resolve_model
from driftline.serving.answers import answer_records
from driftline.serving.log import InferenceLog, log_url, logged

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file
from scale import jittered  # noqa: E402 - benchmarks/scale.py, beside this file

REPO = Path(__file__).resolve().parents[1]
LINKED = ("params.yaml", "dvc.yaml", "artifacts")  # with the registry: what a monitoring run reads
TARGET_S = 15.0
BACKFILL_TARGET_S = 180.0
START = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the backfilled log's first day
STARTUP = "import driftline.cli, driftline.orchestration.monitor"


def measured(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (GiB) of COMMAND run to completion in CWD."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=dvc_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 2**20


def scratch(root: Path, folder: Path) -> None:
    """FOLDER as a project that monitors with ROOT's champion and writes its reports to itself."""
    registry = load_params(root / "params.yaml").registry.dir
    for name in (*LINKED, str(registry)):
        (folder / name).symlink_to((root / name).resolve())


def main(rows: int = typer.Option(100_000, min=1), runs: int = typer.Option(3, min=1),
         root: Path = typer.Option(REPO, help="the project whose data and champion are used"),
         days: int = typer.Option(0, min=0, help="backfill this many daily windows too (0: none)"),
         day_rows: int = typer.Option(10_000, min=1, help="records per backfilled day")) -> None:
    source = pd.read_csv(root / "data" / "adult.csv", dtype=str, keep_default_na=False)
    driftline = str(Path(sys.executable).parent / "driftline")
    with tempfile.TemporaryDirectory(prefix="driftline-bench-monitor-") as tmp:
        folder = Path(tmp)
        scratch(root, folder)
        jittered(source, rows, seed=1).to_csv(folder / "batch.csv", index=False, na_rep="?")
        timings = [measured([driftline, "monitor", "batch.csv", "--json"], folder) for _ in range(runs)]
        startup = [measured([sys.executable, "-c", STARTUP], folder)[0] for _ in range(runs)]
        found = tables(rows, timings, startup)
        if days:
            write_log(folder, jittered(source, days * day_rows, seed=2), days)
            end = START + timedelta(days=days)
            seconds, rss = measured([driftline, "monitor", "--from", START.isoformat(), "--to", end.isoformat(),
                                     "--every", "1d", "--json"], folder)
            found.append(record.table(f"backfill: {days} daily windows of {day_rows:,} records (CLI, start-up "
                                      "included)", ["seconds", "seconds per window", "peak RSS GiB"],
                                      [[seconds, seconds / days, rss]],
                                      note=f"target: at most {BACKFILL_TARGET_S:g} s for 30 windows of 10k rows"))
    record.publish("monitor", found)


def write_log(folder: Path, frame: pd.DataFrame, days: int) -> None:
    """FRAME's rows as the service logs them, answered by FOLDER's champion, spread evenly over DAYS days."""
    params = load_params(folder / "params.yaml")
    predictor = resolve_model(params, folder, "champion").predictor()
    features = frame[predictor.schema.features]
    answers = answer_records(predictor.task, predictor.task.answers(predictor.predict(
        predictor.typed_frame(features.to_dict("list")))))
    step = timedelta(days=days) / len(frame)
    writer = InferenceLog(log_url(params.serve.log_url, folder), batch_rows=20_000)
    writer.append([{"request_id": f"bench-{n // 100}", "record_id": f"bench-{n}", "model_version": "bench",
                    "created": (START + n * step).replace(tzinfo=None), "features": row} | logged(answer)
                   for n, (row, answer) in enumerate(zip(features.to_dict("records"), answers))])
    writer.close(timeout_s=600)


def tables(rows: int, timings: list[tuple[float, float]], startup: list[float]) -> list[dict]:
    median = statistics.median(s for s, _ in timings)
    return [
        record.table(f"driftline monitor on {rows:,} rows (CLI, start-up included)", ["run", "seconds", "peak RSS GiB"],
                     [[n, s, rss] for n, (s, rss) in enumerate(timings, start=1)]
                     + [["median", median, max(rss for _, rss in timings)]],
                     note=f"target: at most {TARGET_S:g} s on 2 cores; the batch is the project's data jittered "
                          "(benchmarks/scale.py), labels included"),
        record.table("start-up: a process that imports the command and monitoring", ["median seconds", "runs"],
                     [[statistics.median(startup), len(startup)]]),
    ]


if __name__ == "__main__":
    typer.run(main)
