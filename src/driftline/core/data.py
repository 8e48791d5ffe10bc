"""Reading tabular batches: one CSV reader for ingest, the stages, batch scoring and monitoring."""

from __future__ import annotations

import json
import numbers
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from driftline.config import DataParams
from driftline.errors import DataError
from driftline.schema import ColumnSpec, Schema

BOOLEAN_TEXT = {True: "True", False: "False"}
VECTORISED_ROWS = 256  # above this many values, category columns of text go through pandas' string methods


def text_options(na_values: list[str]) -> dict:
    """The pandas.read_csv keywords of the reading rule (read_text), for readers that read a file in parts."""
    return {
        "dtype": str,
        "skipinitialspace": True,
        "na_values": na_values,
        "keep_default_na": False,
        "encoding": "utf-8-sig",  # a byte-order mark (spreadsheet exports) would otherwise join the first name
    }


def read_text(source: str | Path | IO[bytes], na_values: list[str], name: str | None = None) -> pd.DataFrame:
    """Every cell of a CSV with a header row (local path, fsspec URL or open binary file) as stripped text, NaN
    where the stripped cell is one of NA_VALUES ("? " is a missing-value marker once stripped); names stripped
    too. Errors call the file NAME, SOURCE where not given (an open file has no useful name of its own)."""
    name = str(source) if name is None else name
    try:
        frame = pd.read_csv(source, **text_options(na_values))
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{name} is not a readable CSV file: {exc}") from None
    except (OSError, ImportError, ValueError) as exc:  # missing file, fsspec protocol without its package
        raise DataError(f"cannot read {name}: {exc}") from None
    return stripped(frame, na_values)


def stripped(frame: pd.DataFrame, na_values: list[str]) -> pd.DataFrame:
    """FRAME (read with text_options) with its names and cells stripped, NaN where a stripped cell is one of
    NA_VALUES: read_text's rule for one part of a file, as Dask reads it. Changes FRAME in place."""
    frame.columns = column_names(frame.columns)
    missing = set(na_values)
    for position in range(frame.shape[1]):
        text = strip_values(frame.iloc[:, position].to_numpy(), missing)
        frame.isetitem(position, pd.Series(text, index=frame.index))
    return frame


def column_names(header: Sequence) -> list[str]:
    """A CSV header's names as the reading rule gives them: stripped text."""
    return [str(c).strip() for c in header]


def read_csv(source: str | Path | IO[bytes], schema: Schema, na_values: list[str],
             name: str | None = None) -> pd.DataFrame:
    """Read one CSV (read_text, whose errors call it NAME); only the columns declared `integer` or `float` become
    numbers (declared_numbers)."""
    return declared_numbers(read_text(source, na_values, name), schema)


def declared_numbers(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """FRAME (read_text's text) with the columns declared `integer` or `float` as numbers. Changes FRAME in place.

    Declared types win over what a value looks like, so a category written as numbers or booleans ("1",
    "02139", "True") keeps its spelling. A numeric column holding a cell that is not a number stays text,
    for the contract to name it; columns the schema does not declare stay text.
    """
    for position, name in enumerate(frame.columns):
        column = schema.columns.get(name)
        if column is not None and column.numeric:
            frame.isetitem(position, _numbers_if_all(frame.iloc[:, position]))
    return frame


def _numbers_if_all(text: pd.Series) -> pd.Series:
    """TEXT as numbers where every present cell is one, as pandas would have guessed; otherwise unchanged."""
    numbers = pd.to_numeric(text, errors="coerce")
    return text if (numbers.isna() & text.notna()).any() else numbers


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
    values = columns_of(frame, list(schema.columns) if columns is None else columns)
    return pd.DataFrame({name: coerce_column(name, v, schema.columns[name], na_values) for name, v in values.items()},
                        index=frame.index)


def columns_of(frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """NAMES' values as plain arrays; a column the frame lacks is an error that names it."""
    for name in names:
        if name not in frame:
            raise DataError(f"missing column '{name}'")
    return {name: frame[name].to_numpy() for name in names}


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the service takes them: JSON objects, missing values as null."""
    return json.loads(frame.to_json(orient="records"))


def coerce_column(name: str, values: Sequence, column: ColumnSpec, na_values: Sequence[str] = ()) -> np.ndarray:
    """One column as its declared type: float64 with NaN for numbers, canonical text (category_text) or
    NaN for categories.

    Cells equal to one of NA_VALUES (once stripped) count as missing, so every path follows the reading
    rule of the data. Works on a frame's column and on a list of JSON values alike.
    """
    if column.numeric:
        numbers = _numbers(name, values, na_values)
        if column.type == "integer":
            fractional = ~np.isnan(numbers) & (numbers != np.floor(numbers))
            if fractional.any():
                raise DataError(f"integer column '{name}' has fractional values such as {numbers[fractional][0]:g}")
        return numbers
    return category_texts(values, boolean_spelling(column.categories), set(na_values))


def boolean_spelling(categories: Sequence[str]) -> dict[bool, str]:
    """How CATEGORIES write true and false, matched in any case ("yes" is not true); "True" and "False"
    where they do not."""
    spelling = dict(BOOLEAN_TEXT)
    for category in categories:
        if category.lower() in ("true", "false"):
            spelling[category.lower() == "true"] = category
    return spelling


def category_texts(values: Sequence, spelling: Mapping[bool, str] = BOOLEAN_TEXT,
                   missing: Collection[str] = ()) -> np.ndarray:
    """category_text of each value as an object array, NaN where missing (or where the text is in MISSING).

    Large columns that are text already (every frame read from a CSV) are stripped a distinct value at a
    time (strip_values), which gives the same texts as category_text; others (JSON records, frames typed by
    pandas, where True and 1 would count as one value, and the service's few rows) go value by value.
    """
    values = np.asarray(values, dtype=object)
    if len(values) > VECTORISED_ROWS and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return strip_values(values, missing)
    texts = (category_text(v, spelling) for v in values)
    return np.array([np.nan if t is None or t in missing else t for t in texts], dtype=object)


def strip_values(values: np.ndarray, missing: Collection[str] = ()) -> np.ndarray:
    """Text VALUES stripped, NaN where missing (None, NaN, pd.NA, or stripped text in MISSING); each distinct
    value is stripped once, since a column of millions of rows holds a few distinct values (pandas'
    str.strip calls Python per row)."""
    codes, uniques = pd.factorize(values)
    texts = (u.strip() for u in uniques)
    return np.array([np.nan if t in missing else t for t in texts] + [np.nan], dtype=object)[codes]


def category_text(value: object, spelling: Mapping[bool, str] = BOOLEAN_TEXT) -> str | None:
    """The canonical text of one category value, or None where it is missing (None, NaN, pd.NA).

    Declared types win over what a value looks like, so every path (CSV cells, frames typed by pandas,
    JSON records) compares the same text with the declared categories:
    - text as written, stripped: "02139" stays "02139" and "1.0" stays "1.0";
    - integers, and floats with no fractional part, as integers: 1, 1.0 and numpy's 1 are all "1";
    - other floats as Python writes them: 2.5 is "2.5";
    - booleans as SPELLING gives them (boolean_spelling: the declared category reading true or false in
      any case, else "True"/"False");
    - anything else as str() gives it, which no declared category will match.
    """
    if isinstance(value, str):
        return value.strip()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return spelling[bool(value)]
    if isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        return str(int(value))
    return str(value).strip()


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


def sensitive_groups(values: pd.Series, bins: list[float] | None) -> pd.Series:
    """Group labels for one sensitive attribute; numeric attributes are cut into the declared bands.

    Missing values form the group "missing", and values outside the bands the group "outside [first, last)".
    """
    if not bins:
        return values.fillna("missing").astype(str)
    bands = pd.cut(values, bins=bins, right=False).astype(str)
    outside = f"outside [{bins[0]:g}, {bins[-1]:g})"
    return bands.where(values.isna() | bands.ne("nan"), outside).where(values.notna(), "missing")
