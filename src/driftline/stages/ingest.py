"""Ingestion: a validated batch becomes a new DVC data version; a refused one goes to quarantine.

The batch is read once, as bytes, so the copy in quarantine is exactly what was checked (a gzip file is
unpacked to be read, whatever its name). A local file's copies keep its permission bits, and a symlink
out of the project is refused (sources.local_file). Rows that the stored data already holds are dropped
(and counted): a repeated row would break the duplicate rule of the contract over all the data, and could
leak test rows into training.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd

from driftline.config import Params
from driftline.core import layout
from driftline.core.artifacts import dvc
from driftline.core.contract import check, failures
from driftline.core.data import coerce, data_files, read_csv, read_dataset
from driftline.core.sources import fetch, local_file, opener, permission_bits, quarantine, shown, source_name, unpacked
from driftline.errors import ContractError, DataError, IngestError
from driftline.schema import Schema


def known_rows(batch: pd.DataFrame, stored: pd.DataFrame, schema: Schema) -> pd.Series:
    """True for each batch row that the stored data already holds, compared as typed values."""
    def fingerprints(frame: pd.DataFrame) -> pd.Series:
        return pd.util.hash_pandas_object(coerce(frame, schema), index=False)

    return fingerprints(batch).isin(fingerprints(stored).to_numpy())


def run(source: str, params: Params, root: Path = Path(".")) -> dict:
    """Validate SOURCE; store its new rows under the data folder as a new DVC version, or quarantine it and raise."""
    stamp = layout.stamp(layout.BATCH_STAMP)
    name, mode = source_name(source), permission_bits(local_file(source, root))
    content, result, problems, dropped = None, None, [], 0
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp, "docs")
        try:
            content = fetch(source)
            csv = io.BytesIO(unpacked(content, shown(source)))
            frame = read_csv(csv, params.schema, params.data.na_values, name=shown(source))
            result = check(frame, params.schema, params.validation, docs)
            problems = failures(result)
            if not problems and data_files(root / params.data.dir):
                known = known_rows(frame, read_dataset(params.data, params.schema, root), params.schema)
                frame, dropped = frame[~known], int(known.sum())
                if frame.empty:
                    problems = [f"all {dropped} rows are already in {params.data.dir}; nothing new to ingest"]
        except DataError as exc:
            problems = [str(exc)]
        if problems:
            folder = root / params.ingest.quarantine_dir / f"{stamp}-{name}"
            report = {"source": shown(source), "problems": problems, "result": result}
            quarantine(content, name, report, docs, folder, mode)
            raise ContractError(problems + [f"batch quarantined in {folder}"])
    stored_name = f"{stamp}-{Path(name.removesuffix('.gz')).stem}.csv"  # new.csv.gz is stored as <stamp>-new.csv
    return store(frame, stored_name, params, root, mode) | {"dropped_known_rows": dropped}


def store(frame: pd.DataFrame, name: str, params: Params, root: Path, mode: int | None) -> dict:
    """Write the batch (with MODE's permission bits: its source's), `dvc add` the data folder and push; undo the
    write if DVC fails."""
    target = root / params.data.dir / "batches" / name
    pointer = root / f"{params.data.dir}.dvc"
    before = pointer.read_bytes() if pointer.exists() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    na_values = params.data.na_values
    with open(target, "w", encoding="utf-8", newline="", opener=opener(mode)) as handle:
        frame.to_csv(handle, index=False, na_rep=na_values[0] if na_values else "")
    try:
        dvc(root, "add", str(params.data.dir))
        if params.ingest.push:
            dvc(root, "push", str(pointer.relative_to(root)))
    except IngestError:
        target.unlink()
        if before is not None:
            pointer.write_bytes(before)
        raise
    return {"rows": len(frame), "path": str(target.relative_to(root)), "pointer": str(pointer.relative_to(root))}
