"""Batch scoring of a CSV file: whole in this process, or in partitions on a Dask cluster, to the same output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from driftline.core.data import column_names, declared_numbers, read_csv, stripped, text_options
from driftline.core.predictor import Predictor
from driftline.errors import ClusterUnreachable
from driftline.schema import Schema

if TYPE_CHECKING:
    from distributed import Client

LOCAL = "local"


def score_file(predictor: Predictor, source: str, output: Path) -> int:
    """Write SOURCE's rows with the task's output columns appended (Predictor.predict's: `probability` and
    `label` for a binary model) to the CSV OUTPUT; the number of rows."""
    scored = written_as_declared(predictor.score(read_csv(source, predictor.schema, predictor.na_values)),
                                 predictor.schema)
    output.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(output, index=False)
    return len(scored)


def written_as_declared(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """FRAME with its numeric columns typed as the schema declares them, so that every part of a file is
    written alike: integers without ".0" even where a cell is missing, floats with it even where all are whole.
    A column that cannot take its type (a fractional value in an integer target) keeps the one it has."""
    types = {name: "Int64" if spec.type == "integer" else "float64" for name, spec in schema.columns.items()
             if spec.numeric and name in frame and pd.api.types.is_numeric_dtype(frame[name])}
    return frame.astype(types, errors="ignore")


def score_part(text: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    """One partition of text cells (read with data.text_options), read by read_csv's rule and scored."""
    frame = declared_numbers(stripped(text.copy(deep=False), predictor.na_values), predictor.schema)
    return written_as_declared(predictor.score(frame), predictor.schema)


def score_file_on_dask(predictor: Predictor, source: str, output: Path, client: Client,
                       blocksize: str | None = None) -> int:
    """score_file's output, scored by CLIENT's workers in partitions of BLOCKSIZE bytes of SOURCE (Dask's
    default when None); the number of rows.

    The workers read SOURCE and write OUTPUT, so both must be on storage they share with this process. The
    predictor is sent to every worker once; partitions are scored in parallel and appended to OUTPUT in
    order. OUTPUT appears only once every partition is written."""
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False}):  # object text, as pandas reads it in score_file
        text = dd.read_csv(source, blocksize=blocksize or "default", **text_options(predictor.na_values))
        shipped = client.scatter(predictor, broadcast=True, hash=False)
        # The parts' columns, as stripped() names them; writing needs no more.
        meta = pd.DataFrame(columns=[*column_names(text.columns), *predictor.task.output_columns])
        parts = text.map_partitions(score_part, shipped, meta=meta).to_delayed()
    partial = output.absolute().with_name(output.name + ".partial")  # the workers' working folder is not ours
    output.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    for number, part in enumerate(parts):
        written = dask.delayed(_append)(part, partial, number == 0, written)
    try:
        rows = client.compute(written).result()
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def _append(frame: pd.DataFrame, path: Path, first: bool, rows_before: int) -> int:
    """Write FRAME to the CSV PATH (the first part starts it, with the header); the rows written so far.
    Taking ROWS_BEFORE from the previous part's write keeps the parts in order."""
    frame.to_csv(path, mode="w" if first else "a", header=first, index=False)
    return rows_before + len(frame)


@contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A client of the Dask scheduler at ADDRESS (such as tcp://scheduler:8786), or, where ADDRESS is
    "local", of a LocalCluster of this machine's cores started for the block. ClusterUnreachable, naming
    ADDRESS, where no scheduler answers there."""
    from distributed import Client, LocalCluster

    if address == LOCAL:
        with LocalCluster(dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address)  # waits distributed.comm.timeouts.connect (30 s by default)
    except (OSError, ValueError) as exc:  # ValueError: an unknown scheme
        raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        yield client
