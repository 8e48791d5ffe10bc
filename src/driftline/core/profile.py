"""`driftline init`: profile a CSV into params.yaml's `schema:` section and the contract's tolerances.

Type rules, in order: the target and any column named with `--category` are categories; a column with
any value that is not a finite number (text, True/False) is a category; a column of integers spelt
with a leading zero ("02139") is a category, since its spelling is part of the value; a column of
integers with at most two distinct values (0/1 flags) is a category; other integers are `integer`,
and any other numbers `float`.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from driftline.config import CardParams, load_params
from driftline.core.data import read_text
from driftline.errors import ConfigError, DataError

INTEGER = r"[+-]?\d+"
LEADING_ZERO = r"[+-]?0\d+"
TOP_LEVEL_KEY = re.compile(r"([A-Za-z_][\w-]*):")
RANGE_MARGIN = 0.1  # share of the observed range added beyond each end
QUANTILES = [0.2, 0.4, 0.6, 0.8]  # inner edges of a numeric sensitive attribute's bands (quintiles)


def infer_type(values: pd.Series) -> str:
    """`integer`, `float` or `category` for a column's non-missing text values (the rules above)."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or not np.isfinite(numbers).all():
        return "category"
    if not values.str.fullmatch(INTEGER).all():
        return "float"
    if values.str.fullmatch(LEADING_ZERO).any() or numbers.nunique() <= 2:
        return "category"
    return "integer"


def numeric_range(numbers: pd.Series, integer: bool) -> tuple[float, float]:
    """The observed min..max widened by RANGE_MARGIN of the range each way, rounded outward to a round step.

    Integers stay integral, and a column that is never negative gets a min of at least 0.
    """
    low, high = float(numbers.min()), float(numbers.max())
    margin = RANGE_MARGIN * (high - low) or RANGE_MARGIN * abs(high) or 1.0  # a constant column still gets room
    step = 10.0 ** math.floor(math.log10(margin))
    if integer:
        step = max(step, 1.0)
    digits = max(0, -math.floor(math.log10(step)))  # drops the float noise of multiplying by STEP
    start = round(math.floor((low - margin) / step) * step, digits)
    stop = round(math.ceil((high + margin) / step) * step, digits)
    if low >= 0:
        start = max(start, 0.0)
    return (int(start), int(stop)) if integer else (start, stop)


def headroom(share: float) -> float:
    """An allowed share above an observed one: twice it, at least 0.01 more, rounded up to hundredths."""
    return min(1.0, math.ceil(round(max(2 * share, share + 0.01) * 100, 6)) / 100)


def quantile_bins(numbers: pd.Series, low: float, high: float, integer: bool) -> list[float]:
    """Band edges from LOW to HIGH through the quintiles of NUMBERS, strictly increasing.

    Bands are closed on the left and open on the right, so an integer column's last edge is HIGH + 1
    to keep HIGH itself inside.
    """
    inner = np.quantile(numbers.astype(float), QUANTILES)
    inner = np.round(inner) if integer else [float(f"{q:.3g}") for q in inner]
    stop = high + 1 if integer else high
    edges = sorted({low, stop, *(float(q) for q in inner if low < q < stop)})
    return [int(e) for e in edges] if integer else edges


def column_spec(values: pd.Series, kind: str) -> dict:
    """One column's schema entry (type, range or categories, max_missing) from its text values."""
    present = values.dropna()
    spec: dict = {"type": kind}
    if kind != "category":
        spec["min"], spec["max"] = numeric_range(pd.to_numeric(present), kind == "integer")
    missing = float(values.isna().mean())
    if missing:
        spec["max_missing"] = headroom(missing)
    if kind == "category":
        spec["categories"] = sorted(present.unique().tolist())
    return spec


def check_target(frame: pd.DataFrame, target: str, positive: str) -> None:
    """The target must be a column with exactly two values, one of them POSITIVE, and no missing cells."""
    if target not in frame:
        raise DataError(f"target '{target}' is not a column of the data; columns: {', '.join(frame.columns)}")
    values = frame[target]
    if values.isna().any():
        raise DataError(f"target '{target}' has {int(values.isna().sum())} missing value(s)")
    labels = sorted(values.unique().tolist())
    if positive not in labels:
        raise DataError(f"positive label '{positive}' is not a value of '{target}'; its values: {labels[:10]}")
    if len(labels) != 2:
        raise DataError(f"target '{target}' must have exactly two values, not {len(labels)}: {labels[:10]}")


def profile(frame: pd.DataFrame, target: str, positive: str, sensitive: list[str] = (),
            categories: list[str] = ()) -> dict:
    """The schema inferred from FRAME (text, NaN where missing), each column's missing share and the
    duplicate share, as {"schema": ..., "missing": ..., "max_duplicate_share": ...}."""
    check_target(frame, target, positive)
    for name in [*sensitive, *categories]:
        if name not in frame:
            raise DataError(f"'{name}' is not a column of the data; columns: {', '.join(frame.columns)}")
    if target in sensitive:
        raise DataError(f"the target '{target}' cannot be a sensitive attribute")
    columns = {}
    for name in frame:
        present = frame[name].dropna()
        if present.empty:
            raise DataError(f"column '{name}' has no values")
        kind = "category" if name == target or name in categories else infer_type(present)
        columns[name] = column_spec(frame[name], kind)
    bands = {}
    for name in sensitive:
        spec = columns[name]
        bands[name] = {} if spec["type"] == "category" else {"bins": quantile_bins(
            pd.to_numeric(frame[name].dropna()), spec["min"], spec["max"], spec["type"] == "integer")}
    # The contract counts every row of a repeated group, as Great Expectations' compound uniqueness does.
    duplicates = float(frame.duplicated(keep=False).mean())
    return {"schema": {"target": target, "positive_label": positive, "columns": columns, "sensitive": bands},
            "missing": {name: float(frame[name].isna().mean()) for name in frame},
            "duplicate_share": duplicates, "max_duplicate_share": headroom(duplicates)}


def scalar(text: str) -> str:
    """TEXT as a YAML scalar: bare where YAML reads it back as the same plain name, else double-quoted."""
    return text if re.fullmatch(r"[A-Za-z_][\w.-]*", text) and yaml.safe_load(text) == text else json.dumps(text)


def schema_yaml(schema: dict, source: str) -> str:
    """The `schema:` section as params.yaml writes it: one flow mapping per column, aligned."""
    width = max(len(scalar(name)) for name in schema["columns"]) + 2
    lines = [f"schema:                     # inferred by `driftline init {source}`; edit freely",
             f"  target: {scalar(schema['target'])}",
             f"  positive_label: {json.dumps(schema['positive_label'])}",
             "  columns:                  # max_missing: allowed share of missing values (default 0)"]
    for name, spec in schema["columns"].items():
        flow = yaml.safe_dump(spec, default_flow_style=True, sort_keys=False, width=math.inf).strip()
        lines.append(f"    {(scalar(name) + ':').ljust(width)}{flow}")
    empty = "" if schema["sensitive"] else " {}"  # a bare key would read as null
    lines.append(f"  sensitive:{empty}".ljust(28) + "# audited groups; bins turn a numeric column into bands")
    for name, spec in schema["sensitive"].items():
        lines.append(f"    {scalar(name)}: {yaml.safe_dump(spec, default_flow_style=True, width=math.inf).strip()}")
    return "\n".join(lines) + "\n"


def section_span(lines: list[str], name: str) -> tuple[int, int] | None:
    """The [start, stop) line numbers of top-level key NAME and its indented body, or None.

    Comments and blank lines after the body belong to what follows, so they are kept.
    """
    starts = [i for i, line in enumerate(lines) if (m := TOP_LEVEL_KEY.match(line)) and m[1] == name]
    if not starts:
        return None
    stop = starts[0] + 1
    for i in range(starts[0] + 1, len(lines)):
        if lines[i].strip() and not lines[i][0].isspace():  # the next key, or a comment about it
            break
        if lines[i].strip():
            stop = i + 1
    return starts[0], stop


def card_yaml(source: str, previous: dict | None, comments: list[str]) -> str:
    """The `card:` section with placeholders: what the model card says of the data is the user's to write.

    A PREVIOUS card with text of its own stays below, commented out, and so do the COMMENTS of the section it
    replaces (earlier cards kept so): re-running init loses none of them.
    """
    placeholders = CardParams().model_dump()
    lines = yaml.safe_dump({"card": placeholders}, sort_keys=False, width=math.inf, allow_unicode=True).splitlines()
    lines[0] = f"card:  # the model card's text about {source}: replace each placeholder (the release warns until then)"
    if previous and previous != placeholders:
        kept = yaml.safe_dump(previous, sort_keys=False, width=math.inf, allow_unicode=True).splitlines()
        lines += ["  # the card before `driftline init`, kept as it was:"] + [f"  # {line}" for line in kept]
    return "\n".join(lines + comments) + "\n"


def replace_section(text: str, name: str, section: str) -> str:
    """TEXT with top-level section NAME replaced by SECTION (appended if absent); the rest is untouched."""
    lines = text.splitlines(keepends=True)
    span = section_span(lines, name)
    if span is None:
        return text + ("" if text.endswith("\n") or not text else "\n") + "\n" + section
    return "".join(lines[:span[0]]) + section + "".join(lines[span[1]:])


def set_value(text: str, name: str, key: str, value: float) -> str:
    """TEXT with KEY of top-level section NAME set to VALUE, keeping the line's comment; added if absent."""
    lines = text.splitlines(keepends=True)
    span = section_span(lines, name)
    if span is None:
        return replace_section(text, name, f"{name}:\n  {key}: {value}\n")
    pattern = re.compile(rf"(\s+{re.escape(key)}:\s*)[^\s#]+(.*)", re.DOTALL)
    for i in range(*span):
        if match := pattern.fullmatch(lines[i]):
            lines[i] = f"{match[1]}{value}{match[2]}"
            return "".join(lines)
    lines.insert(span[0] + 1, f"  {key}: {value}\n")
    return "".join(lines)


def write_checked(path: Path, text: str) -> None:
    """Write TEXT to PATH only if it loads as a valid params.yaml, and atomically (a temporary file renamed)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        shutil.copymode(path, temporary)  # mkstemp's file is private; params.yaml keeps its permissions
        try:
            load_params(temporary)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(temporary, str(path))) from None
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def init(source: str | Path, params_path: Path, target: str, positive: str, sensitive: list[str] = (),
         categories: list[str] = (), force: bool = False) -> dict:
    """Profile SOURCE and write the schema, validate.max_duplicate_share and a `card:` of placeholders into
    PARAMS_PATH; the profile.

    Refuses to replace a schema that already declares columns unless FORCE.
    """
    try:
        text = params_path.read_text()
        raw = yaml.safe_load(text) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {params_path}: {exc}") from None
    declared = (raw.get("schema") or {}).get("columns") or {}
    if declared and not force:
        raise ConfigError(f"{params_path} already has a schema of {len(declared)} columns "
                          f"({', '.join(list(declared)[:4])}...); pass --force to replace it")
    na_values = (raw.get("data") or {}).get("na_values", ["?", ""])
    found = profile(read_text(source, na_values), target, positive, sensitive, categories)
    text = replace_section(text, "schema", schema_yaml(found["schema"], str(source)))
    lines = text.splitlines()
    span = section_span(lines, "card") or (0, 0)
    comments = [line for line in lines[span[0] + 1:span[1]] if line.lstrip().startswith("#")]
    text = replace_section(text, "card", card_yaml(str(source), raw.get("card"), comments))
    write_checked(params_path, set_value(text, "validate", "max_duplicate_share", found["max_duplicate_share"]))
    return found
