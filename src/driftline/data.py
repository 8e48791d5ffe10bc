"""Reading tabular batches: one CSV reader for ingest, the stages, batch scoring and monitoring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from driftline.config import ColumnSpec, DataParams, Schema
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
    """Give each declared column its declared type (coerce_column), as a frame."""
    values = columns_of(frame, columns or list(schema.columns))
    return pd.DataFrame({name: coerce_column(name, v, schema.columns[name], na_values) for name, v in values.items()},
                        index=frame.index)


def columns_of(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """NAMES' values as plain arrays; a column the frame lacks is an error that names it."""
    for name in names:
        if name not in frame:
            raise DataError(f"missing column '{name}'")
    return {name: frame[name].to_numpy() for name in names}


def coerce_column(name: str, values: Sequence, column: ColumnSpec, na_values: Sequence[str] = ()) -> np.ndarray:
    """One column as its declared type: float64 with NaN for numbers, text or NaN for categories.

    Cells equal to one of NA_VALUES count as missing, so every path follows the reading rule of the
    data; category text is stripped. Works on a frame's column and on a list of JSON values alike.
    """
    if column.numeric:
        numbers = _numbers(name, values, na_values)
        if column.type == "integer":
            fractional = ~np.isnan(numbers) & (numbers != np.floor(numbers))
            if fractional.any():
                raise DataError(f"integer column '{name}' has fractional values such as {numbers[fractional][0]:g}")
        return numbers
    missing = set(na_values)
    return np.array([np.nan if pd.isna(v) or (isinstance(v, str) and v in missing) else str(v).strip()
                     for v in values], dtype=object)


def _numbers(name: str, values: Sequence, na_values: Sequence[str]) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)  # numbers and None: the common case, no pandas
    except (TypeError, ValueError):  # text among them: missing-value markers, or an error to name
        pass
    series = pd.Series(values, dtype=object)
    if na_values:
        series = series.mask(series.isin(na_values))
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        raise DataError(f"column '{name}' has non-numeric values such as {series[bad].iloc[0]!r}")
    return numbers.to_numpy(np.float64)


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
