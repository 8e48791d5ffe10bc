"""Ingestion: a validated batch becomes a new DVC data version; a refused one goes to quarantine."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import fsspec

from driftline.config import Params
from driftline.data import DataError, read_csv
from driftline.validate import ContractError, check, failures


class IngestError(RuntimeError):
    """The batch was refused or could not be stored; the data and its version are as they were."""


def dvc(root: Path, *args: str) -> None:
    """Run a DVC command in the project, raising IngestError with its output on failure."""
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise IngestError(f"dvc {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def quarantine(source: str, problems: list[str], result: dict | None, docs: Path | None, params: Params,
               root: Path, stamp: str) -> Path:
    """Copy the refused batch and its validation report under the quarantine folder."""
    folder = root / params.ingest.quarantine_dir / f"{stamp}-{Path(source).name}"
    folder.mkdir(parents=True, exist_ok=True)
    with fsspec.open(source, "rb") as src, open(folder / Path(source).name, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "report.json").write_text(json.dumps({"source": source, "problems": problems, "result": result},
                                                   indent=1, default=str))
    if docs is not None and docs.exists():
        shutil.copytree(docs, folder / "docs")
    return folder


def run(source: str, params: Params, root: Path = Path(".")) -> dict:
    """Validate SOURCE; store it under the data folder as a new DVC version, or quarantine it and raise."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory() as tmp:
        docs, result = Path(tmp, "docs"), None
        try:
            frame = read_csv(source, params.data)
            result = check(frame, params.schema, params.validation, docs)
            problems = failures(result)
        except DataError as exc:
            problems = [str(exc)]
        if problems:
            folder = quarantine(source, problems, result, docs, params, root, stamp)
            raise ContractError(problems + [f"batch quarantined in {folder}"])
    return store(frame, f"{stamp}-{Path(source).stem}.csv", params, root)


def store(frame, name: str, params: Params, root: Path) -> dict:
    """Write the batch, `dvc add` the data folder and push; undo the write if DVC fails."""
    target = root / params.data.dir / "batches" / name
    pointer = root / f"{params.data.dir}.dvc"
    before = pointer.read_bytes() if pointer.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)
    try:
        dvc(root, "add", str(params.data.dir))
        if params.ingest.push:
            dvc(root, "push", pointer.name)
    except IngestError:
        target.unlink()
        if before is not None:
            pointer.write_bytes(before)
        raise
    return {"rows": len(frame), "path": str(target.relative_to(root)), "pointer": pointer.name}
