"""Pipeline benchmarks: no-op repro, batch scoring throughput, peak memory (training: benchmarks/model.py).

Run from the project root after `make run` (`make bench`). Prints a table and writes
benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from driftline.config import load_params
from driftline.core.artifacts import package_info, write_json
from driftline.core.data import read_dataset
from driftline.registry.resolver import packaged_model

OUT = Path("benchmarks/results/pipeline.json")


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    params = load_params()
    results = {"noop_repro_s": min(timed([sys.executable, "-m", "dvc", "repro"]) for _ in range(3))}
    predictor = packaged_model(package_info(Path("."))).predictor()
    frame = read_dataset(params.data, params.schema)
    started = time.perf_counter()
    predictor.predict(frame)
    results["score_rows_per_s"] = round(len(frame) / (time.perf_counter() - started))
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    table = Table("benchmark", "value", title="driftline pipeline")
    for key, value in results.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    Console().print(table)
    write_json(OUT, results)


if __name__ == "__main__":
    main()
