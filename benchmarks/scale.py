"""Scale benchmark: the whole pipeline on 1x, 10x and 100x Adult, per-stage seconds and peak RSS.

Each size is a fresh project under --work (the repository's code and params.yaml, a DVC repo with a
local remote) whose data is Adult sampled with replacement, with its numbers jittered so rows stay
distinct. Then, as a user runs it: `dvc add` (version the snapshot), each dvc.yaml stage through
`dvc repro --single-item`, `driftline release`, and on a new batch of a tenth of the rows `driftline
predict`, `driftline monitor` and `driftline ingest`. Every step is its own process, so its peak RSS is
its own (wait4). Prints tables and records them in benchmarks/results/scale.json (benchmarks/record.py).

    python benchmarks/scale.py               # 1x, 10x, 100x
    python benchmarks/scale.py --sizes 1 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import load_params
from driftline.core.artifacts import dvc_env

sys.path.insert(0, str(Path(__file__).resolve().parent))
import record  # noqa: E402 - benchmarks/record.py, beside this file

REPO = Path(__file__).resolve().parents[1]
STAGES = ("validate", "featurize", "train", "evaluate", "audit", "package")


def jittered(source: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """ROWS rows of SOURCE drawn with replacement, their numbers moved inside the declared ranges: columns
    with many values (Adult's fnlwgt) by up to 1% of their range, which keeps the rows distinct, and half
    of the others' values by one."""
    rng = np.random.default_rng(seed)
    frame = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    schema = load_params(REPO / "params.yaml").schema
    for name in schema.numeric_features:
        spec, values = schema.columns[name], pd.to_numeric(frame[name], errors="coerce")
        wide = values.nunique() > 1000
        spread = max(1, round(0.01 * float(values.max() - values.min()))) if wide else 1
        step = rng.integers(-spread, spread + 1, rows) * (wide | (rng.random(rows) < 0.5))
        moved = (values + step).clip(spec.min, spec.max)
        frame[name] = moved.where(values.notna()).astype("Int64")
    return frame


def project(root: Path, data: pd.DataFrame) -> None:
    """A runnable project in ROOT holding DATA as its one snapshot (not yet versioned)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name in ("src", "pipelines", "flows"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("dvc.yaml", "bentofile.yaml", "params.yaml"):
        shutil.copy(REPO / name, root / name)
    (root / "data").mkdir()
    data.to_csv(root / "data" / "adult.csv", index=False, na_rep="?")
    for command in (["init", "--no-scm", "-q"], ["remote", "add", "-d", "storage", str(root / "remote")]):
        subprocess.run([sys.executable, "-m", "dvc", *command], cwd=root, check=True, env=dvc_env())


def measured(command: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds and peak RSS (GiB) of COMMAND run to completion in CWD (its largest process)."""
    started = time.perf_counter()
    log = open(cwd / "bench.log", "a")
    process = subprocess.Popen(command, cwd=cwd, env=dvc_env() | {"BENTOML_HOME": str(cwd / "bentoml")},
                               stdout=log, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):  # 2: release refused the candidate, which is an answer, not a failure
        raise SystemExit(f"{' '.join(command)} failed in {cwd} ({process.returncode}); see {cwd / 'bench.log'}")
    return seconds, usage.ru_maxrss / 2**20


def run_size(factor: int, source: pd.DataFrame, work: Path) -> dict:
    root = work / f"{factor}x"
    data = jittered(source, factor * len(source), seed=factor)
    project(root, data)
    batch = jittered(source, max(1, factor * len(source) // 10), seed=factor + 1000)
    batch.to_csv(root / "batch.csv", index=False, na_rep="?")
    driftline = str(Path(sys.executable).parent / "driftline")
    steps = {"version (dvc add)": [sys.executable, "-m", "dvc", "add", "-q", "data"]}
    steps |= {stage: [sys.executable, "-m", "dvc", "repro", "--single-item", stage] for stage in STAGES}
    steps |= {"release": [driftline, "release"],
              "predict (batch)": [driftline, "predict", "batch.csv", "-o", "scored.csv"],
              "monitor (batch)": [driftline, "monitor", "batch.csv"],
              "ingest (batch)": [driftline, "ingest", "batch.csv"]}
    result = {"rows": len(data), "batch_rows": len(batch), "stages": {}}
    for name, command in steps.items():
        seconds, rss = measured(command, root)
        result["stages"][name] = {"seconds": round(seconds, 1), "peak_rss_gib": round(rss, 2)}
        print(f"{factor}x {name}: {seconds:.1f} s, {rss:.2f} GiB", file=sys.stderr, flush=True)
    result["total_s"] = round(sum(s["seconds"] for s in result["stages"].values()), 1)
    result["peak_rss_gib"] = max(s["peak_rss_gib"] for s in result["stages"].values())
    shutil.rmtree(root / "bentoml", ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100], help="multiples of Adult")
    parser.add_argument("--work", type=Path, default=Path("/tmp/driftline-scale"), help="where projects are built")
    args = parser.parse_args()
    source = pd.read_csv(REPO / "data" / "adult.csv", dtype=str, keep_default_na=False)
    results = {f"{factor}x": run_size(factor, source, args.work) for factor in args.sizes}
    record.publish("scale", tables(results))


def tables(results: dict[str, dict]) -> list[dict]:
    """Per step and size: seconds and peak RSS; then the totals and the cost per row against the first size."""
    sizes = list(results)
    steps = list(next(iter(results.values()))["stages"])
    base = next(iter(results.values()))
    return [
        record.table("driftline at scale: seconds per step", ["step", *sizes],
                     [[step, *(results[s]["stages"][step]["seconds"] for s in sizes)] for step in steps]
                     + [["total", *(results[s]["total_s"] for s in sizes)]]),
        record.table("driftline at scale: peak RSS per step (GiB)", ["step", *sizes],
                     [[step, *(results[s]["stages"][step]["peak_rss_gib"] for s in sizes)] for step in steps]
                     + [["largest", *(results[s]["peak_rss_gib"] for s in sizes)]]),
        record.table("driftline at scale: sizes", ["size", "rows", "batch rows", "seconds per row vs first"],
                     [[s, r["rows"], r["batch_rows"], (r["total_s"] / r["rows"]) / (base["total_s"] / base["rows"])]
                      for s, r in results.items()],
                     note="each size is Adult sampled with replacement, numbers jittered; each step its own process"),
    ]


if __name__ == "__main__":
    main()
