"""Pipeline benchmarks: no-op repro, batch scoring throughput, peak memory (training: benchmarks/model.py).

Run from the project root after `make run` (`make bench`). Prints a table and records it in
benchmarks/results/pipeline.json (benchmarks/record.py).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from driftline.config import load_params
from driftline.core.artifacts import package_info
from driftline.core.data import read_dataset
from driftline.registry.resolver import packaged_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def tables(noop_repro_s: float, rows: int, score_s: float, peak_rss_mb: float) -> list[dict]:
    return [record.table("driftline pipeline", ["measure", "value"], [
        ["no-op dvc repro, s (best of 3)", noop_repro_s],
        ["batch scoring, rows/s (the project's data set)", rows / score_s],
        ["rows scored", rows],
        ["peak RSS of this process, MB (scoring)", peak_rss_mb]])]


def main() -> None:
    params = load_params()
    noop = min(timed([sys.executable, "-m", "dvc", "repro"]) for _ in range(3))
    predictor = packaged_model(package_info(Path("."))).predictor()
    frame = read_dataset(params.data, params.schema)
    started = time.perf_counter()
    predictor.predict(frame)
    seconds = time.perf_counter() - started
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    record.publish("pipeline", tables(noop, len(frame), seconds, peak))


if __name__ == "__main__":
    main()
