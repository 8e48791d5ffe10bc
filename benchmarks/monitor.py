"""Monitoring benchmark: `driftline monitor` on a 100k-row batch, from the command line, start-up included.

Run from the project root after `make run` (`make bench-monitor`; it needs a champion). The batch is the
project's data sampled with replacement and jittered as benchmarks/scale.py does, with its labels. Each run
is a fresh process in a scratch folder that links the project's params.yaml, dvc.yaml, registry and
artifacts, so its reports and alerts stay out of the project's own. Records the seconds and peak RSS of
each run and their median, and the start-up alone (a process that imports the command and monitoring and
exits), in benchmarks/results/monitor.json (benchmarks/record.py). The target: at most 15 s on 2 cores.

    python benchmarks/monitor.py --rows 100000 --runs 3
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import typer

from driftline.config import load_params
from driftline.core.artifacts import dvc_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file
from scale import jittered  # noqa: E402 - benchmarks/scale.py, beside this file

REPO = Path(__file__).resolve().parents[1]
LINKED = ("params.yaml", "dvc.yaml", "artifacts")  # with the registry: what a monitoring run reads
TARGET_S = 15.0
STARTUP = "import driftline.cli, driftline.monitoring.run"


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
         root: Path = typer.Option(REPO, help="the project whose data and champion are used")) -> None:
    source = pd.read_csv(root / "data" / "adult.csv", dtype=str, keep_default_na=False)
    driftline = str(Path(sys.executable).parent / "driftline")
    with tempfile.TemporaryDirectory(prefix="driftline-bench-monitor-") as tmp:
        folder = Path(tmp)
        scratch(root, folder)
        jittered(source, rows, seed=1).to_csv(folder / "batch.csv", index=False, na_rep="?")
        timings = [measured([driftline, "monitor", "batch.csv", "--json"], folder) for _ in range(runs)]
        startup = [measured([sys.executable, "-c", STARTUP], folder)[0] for _ in range(runs)]
    record.publish("monitor", tables(rows, timings, startup))


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
