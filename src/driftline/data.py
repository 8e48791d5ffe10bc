"""Reading tabular batches: one CSV reader for ingest, the stages, batch scoring and monitoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import DataParams, Schema
from driftline.errors import DataError


def read_csv(source: str | Path, schema: Schema, na_values: list[str]) -> pd.DataFrame:
    """Read one CSV with a header row (local path or fsspec URL); cells in NA_VALUES become NaN.

    Declared category columns and the target are read as text, so a category written as numbers
    ("1", "01") keeps its spelling; numeric columns are inferred and checked by the contract.
    """
    text = {c: str for c in schema.columns if not schema.columns[c].numeric}
    try:
        frame = pd.read_csv(
            source,
            skipinitialspace=True,
            na_values=na_values,
            keep_default_na=False,
            encoding="utf-8",
            low_memory=False,
            dtype=text,
        )
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{source} is not a readable CSV file: {exc}") from None
    except (OSError, ImportError, ValueError) as exc:  # missing file, fsspec protocol without its package
        raise DataError(f"cannot read {source}: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def data_files(directory: Path) -> list[Path]:
    """The CSV files that make up the training data, in a stable order."""
    return sorted(directory.rglob("*.csv"))


def read_dataset(data: DataParams, schema: Schema, root: Path = Path(".")) -> pd.DataFrame:
    """All training batches under the data folder, concatenated."""
    files = data_files(root / data.dir)
    if not files:
        raise DataError(f"no CSV files under {root / data.dir}; run `dvc pull` or `driftline ingest`")
    return pd.concat([read_csv(f, schema, data.na_values) for f in files], ignore_index=True)


def coerce(frame: pd.DataFrame, schema: Schema, columns: list[str] | None = None,
           na_values: list[str] = ()) -> pd.DataFrame:
    """Give each declared column its declared type: float for numbers, str/NaN for categories.

    Cells equal to one of NA_VALUES count as missing, so every path follows the reading rule of the data.
    """
    out = {}
    for name in columns or list(schema.columns):
        if name not in frame:
            raise DataError(f"missing column '{name}'")
        values = frame[name]
        if values.dtype == object and na_values:
            values = values.mask(values.isin(na_values))
        if schema.columns[name].numeric:
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna() & values.notna()
            if bad.any():
                raise DataError(f"column '{name}' has non-numeric values such as {values[bad].iloc[0]!r}")
            fractional = numbers.notna() & (numbers != np.floor(numbers))
            if schema.columns[name].type == "integer" and fractional.any():
                example = numbers[fractional].iloc[0]
                raise DataError(f"integer column '{name}' has fractional values such as {example:g}")
            out[name] = numbers.astype(np.float64)
        else:
            out[name] = values.map(lambda v: v if pd.isna(v) else str(v).strip()).astype(object)
    return pd.DataFrame(out, index=frame.index)


def labels(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """1 for the positive label, 0 for the negative one; any other or missing target value is an error."""
    target = frame[schema.target].astype(object)
    known = target.isin([schema.positive_label, schema.negative_label])
    if not known.all():
        raise DataError(
            f"target '{schema.target}' has {int((~known).sum())} value(s) that are neither "
            f"'{schema.positive_label}' nor '{schema.negative_label}', such as {target[~known].iloc[0]!r}"
        )
    return (target == schema.positive_label).to_numpy(np.int64)


def sensitive_groups(values: pd.Series, bins: list[float] | None) -> pd.Series:
    """Group labels for one sensitive attribute; numeric attributes are cut into the declared bands.

    Missing values form the group "missing", and values outside the bands the group "outside [first, last)".
    """
    if not bins:
        return values.fillna("missing").astype(str)
    bands = pd.cut(values, bins=bins, right=False).astype(str)
    outside = f"outside [{bins[0]:g}, {bins[-1]:g})"
    return bands.where(values.isna() | bands.ne("nan"), outside).where(values.notna(), "missing")
