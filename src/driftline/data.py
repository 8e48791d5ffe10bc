"""Reading tabular batches: one CSV reader for ingest, the stages, batch scoring and monitoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import DataParams, Schema


class DataError(ValueError):
    """A batch that cannot be read or does not fit the schema."""


def read_csv(source: str | Path, data: DataParams) -> pd.DataFrame:
    """Read one CSV with a header row (local path or fsspec URL), types inferred, missing cells as NaN."""
    try:
        frame = pd.read_csv(
            source,
            skipinitialspace=True,
            na_values=data.na_values,
            keep_default_na=False,
            encoding="utf-8",
            low_memory=False,
        )
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{source} is not a readable CSV file: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot open {source}: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def data_files(directory: Path) -> list[Path]:
    """The CSV files that make up the training data, in a stable order."""
    return sorted(directory.rglob("*.csv"))


def read_dataset(data: DataParams, root: Path = Path(".")) -> pd.DataFrame:
    """All training batches under the data folder, concatenated."""
    files = data_files(root / data.dir)
    if not files:
        raise DataError(f"no CSV files under {root / data.dir}; run `dvc pull` or `driftline ingest`")
    return pd.concat([read_csv(f, data) for f in files], ignore_index=True)


def coerce(frame: pd.DataFrame, schema: Schema, columns: list[str] | None = None) -> pd.DataFrame:
    """Give each declared column its declared type: float for numbers, str/NaN for categories."""
    out = {}
    for name in columns or list(schema.columns):
        if name not in frame:
            raise DataError(f"missing column '{name}'")
        values = frame[name]
        if schema.columns[name].numeric:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                raise DataError(f"column '{name}' has non-numeric values such as {values[bad].iloc[0]!r}")
            out[name] = numbers.astype(np.float64)
        else:
            out[name] = values.map(lambda v: v if pd.isna(v) else str(v).strip()).astype(object)
    return pd.DataFrame(out, index=frame.index)


def labels(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """1 for the positive label, 0 otherwise."""
    return (frame[schema.target].astype(str) == schema.positive_label).to_numpy(np.int64)
