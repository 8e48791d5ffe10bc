"""`driftline init`: profile a CSV into params.yaml's `schema:` section, the contract's tolerances and the gate.

Type rules, in order: any column named with `--category` is a category; a column with any value that
is not a finite number (text, True/False) is a category; a column of integers spelt with a leading zero
("02139") is a category, since its spelling is part of the value; a column of integers with at most two
distinct values (0/1 flags) is a category; other integers are `integer`, and any other numbers `float`.

Task rules (`--task` overrides them): a target with two values is binary; one with three or more that
are not all numbers (or named with `--category`) is multiclass; numbers with more than MAX_CLASSES
distinct values are a regression target, and a count (`target_kind: count`) where they are integers from
0 up, zeros included, skewed right. Numbers with three to MAX_CLASSES values could be classes or counts,
so init asks for `--task` rather than guess. A class target is a category, a regression target a number
like any other. `--task count` declares a count whatever its values; a numeric target whose values are a
count is one under `--task regression` too (params.yaml's schema.target_kind: null, or
featurize.target_link, undoes it).
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
from scipy.stats import skew

from driftline.config import CardParams, load_params
from driftline.core.data import read_text
from driftline.core.metrics import PRIMARY
from driftline.errors import ConfigError, DataError
from driftline.schema import InitTask

INTEGER = r"[+-]?\d+"
LEADING_ZERO = r"[+-]?0\d+"
TOP_LEVEL_KEY = re.compile(r"([A-Za-z_][\w-]*):")
RANGE_MARGIN = 0.1  # share of the observed range added beyond each end
QUANTILES = [0.2, 0.4, 0.6, 0.8]  # inner edges of a numeric sensitive attribute's bands (quintiles)
MAX_CLASSES = 20  # numbers with at most this many distinct values may be classes: init asks which
# The gate init writes: no floors, since what is good enough depends on the data; the task's primary metric
# (core.metrics.PRIMARY) a little worse than the gradient-boosting baseline's at most, less so than the
# champion's, and strictly better than the dummy's. AUC, on a fixed 0..1 scale, gets absolute tolerances;
# log loss and RMSE, on the data's own scale, ratios.
# against the baseline: never shown worse (the paired interval of the difference, release.gate); the champion's
TOLERANCES = {"roc_auc": ({"absolute": 0}, {"absolute": -0.005}),
              "log_loss": ({"absolute": 0}, {"relative": 1.02}),
              "rmse": ({"absolute": 0}, {"relative": 1.02})}
BINARY_GATE = {"max_parity_amplification": 0.1, "max_equalized_odds_difference": 0.4}  # binary fairness, as Adult's
GATE_COMMENTS = {
    "floors": "absolute bounds, none until you set them: e.g. {metric: roc_auc, min: 0.8}, a max where lower is "
              "better",
    "baseline": "the primary metric against the gradient-boosting baseline: refused where its paired 95% interval "
                "lies wholly below 0",
    "dummy": "strictly better than the dummy (the class prior, or the mean)",
    "champion": "against the champion, re-scored on the new test split",
    "max_gaps": "fairness, off unless set: ceilings on the audit's gaps by name (the params reference: "
                "gate.max_gaps)",
}


def all_numbers(values: pd.Series) -> bool:
    """Whether every non-missing text value is a finite number, and none an integer spelt with a leading zero
    (a code such as "02139")."""
    numbers = pd.to_numeric(values, errors="coerce")
    return bool(numbers.notna().all() and np.isfinite(numbers).all() and not values.str.fullmatch(LEADING_ZERO).any())


def infer_type(values: pd.Series) -> str:
    """`integer`, `float` or `category` for a column's non-missing text values (the rules above)."""
    if not all_numbers(values):
        return "category"
    if not values.str.fullmatch(INTEGER).all():
        return "float"
    return "category" if pd.to_numeric(values).nunique() <= 2 else "integer"


def infer_task(values: pd.Series, name: str, classes: bool, task: str | None = None) -> str:
    """The task for target NAME's non-missing text VALUES (the module's rules), or TASK where given, checked.

    CLASSES: the target was named with `--category`, so its values are classes.
    """
    distinct = values.nunique()
    numbers = all_numbers(values) and not classes
    shown = ", ".join(category_order(values.unique())[:10]) + (", ..." if distinct > 10 else "")
    if distinct < 2:
        raise DataError(f"target '{name}' takes one value only ({shown}): there is nothing to predict")
    if task == "binary" and distinct != 2:
        raise DataError(f"--task binary needs a target of two values; '{name}' has {distinct}: {shown}")
    if task == "multiclass" and distinct < 3:
        raise DataError(f"--task multiclass needs a target of three values or more; '{name}' has two: {shown} "
                        "(a binary task)")
    if task == "regression" and not numbers:
        raise DataError(f"--task regression needs a numeric target; '{name}' has values such as {shown}")
    if task is not None:
        return task
    if distinct == 2:
        return "binary"
    if not numbers:
        return "multiclass"
    if distinct > MAX_CLASSES:
        return "regression"
    raise DataError(f"target '{name}' holds {distinct} distinct numbers ({shown}): classes, amounts or counts? "
                    "Pass --task multiclass, --task regression or --task count")


def category_order(values) -> list[str]:
    """Category values sorted: by number where all are numbers (codes, classes such as 3..12), else as text."""
    values = [str(v) for v in values]
    if all_numbers(pd.Series(values, dtype=object)):
        return sorted(values, key=lambda v: (float(v), v))
    return sorted(values)


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
        spec["categories"] = category_order(present.unique())
    return spec


def is_count(values: pd.Series) -> bool:
    """Whether a numeric target's text VALUES are a count: integers from 0 up, zeros included, skewed right."""
    if not values.str.fullmatch(INTEGER).all():
        return False
    numbers = pd.to_numeric(values).to_numpy(np.float64)
    return bool(numbers.min() == 0 and skew(numbers) > 0)


def target_spec(frame: pd.DataFrame, target: str, positive: str | None, categories: list[str],
                task: str | None) -> tuple[str, dict, str | None]:
    """The task (infer_task), the target's column spec (categories for classes, a range for a number) and its
    kind (`count`, or None).

    The target needs a value in every row; POSITIVE names the positive label of a binary task, and only then.
    """
    if target not in frame:
        raise DataError(f"target '{target}' is not a column of the data; columns: {', '.join(frame.columns)}")
    values = frame[target]
    if values.isna().any():
        raise DataError(f"target '{target}' has {int(values.isna().sum())} missing value(s)")
    given = task
    task = infer_task(values, target, target in categories, "regression" if given == "count" else given)
    if task == "regression":
        if positive is not None:
            raise DataError(f"--positive is for binary tasks only; '{target}' is a regression target")
        integers = bool(values.str.fullmatch(INTEGER).all())
        if given == "count" and not (integers and pd.to_numeric(values).min() >= 0):
            raise DataError(f"--task count needs integers of 0 or more; '{target}' has values from "
                            f"{pd.to_numeric(values).min():g} to {pd.to_numeric(values).max():g}"
                            f"{'' if integers else ', not all integers'}")
        count = given == "count" or is_count(values)
        return task, column_spec(values, "integer" if integers else "float"), "count" if count else None
    spec = column_spec(values, "category")
    labels = spec["categories"]
    if task == "binary" and positive is None:
        raise DataError(f"target '{target}' has two values ({', '.join(labels)}): a binary task; name the positive "
                        "one with --positive")
    if task == "binary" and positive not in labels:
        raise DataError(f"positive label '{positive}' is not a value of '{target}'; its values: {labels}")
    if task == "multiclass" and positive is not None:
        raise DataError(f"--positive is for binary tasks only; '{target}' is a multiclass target of "
                        f"{len(labels)} classes")
    return task, spec, None


def gate_values(task: str) -> dict:
    """The gate init writes for TASK (see TOLERANCES); binary also keeps Adult's calibration and fairness bounds."""
    primary = PRIMARY[task]
    baseline, champion = TOLERANCES[primary]
    gate = {"floors": [], "baseline": [{"metric": primary, **baseline}],
            "dummy": [{"metric": primary, "absolute": 0, "strict": True}],
            "champion": [{"metric": primary, **champion}]}
    if task == "binary":
        gate["champion"].append({"metric": "calibration_error", "absolute": 0.01})
        return gate | BINARY_GATE
    return gate | {"max_gaps": {}}


def profile(frame: pd.DataFrame, target: str, positive: str | None = None, sensitive: list[str] = (),
            categories: list[str] = (), task: InitTask | None = None) -> dict:
    """The schema inferred from FRAME (text, NaN where missing), the task's gate, each column's missing share and
    the duplicate share, as {"schema": ..., "gate": ..., "missing": ..., "max_duplicate_share": ...}.

    TASK overrides the inferred one (the module's rules).
    """
    task, target_column, kind = target_spec(frame, target, positive, categories, task)
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
        if name == target:
            columns[name] = target_column
            continue
        columns[name] = column_spec(frame[name], "category" if name in categories else infer_type(present))
    bands = {}
    for name in sensitive:
        spec = columns[name]
        bands[name] = {} if spec["type"] == "category" else {"bins": quantile_bins(
            pd.to_numeric(frame[name].dropna()), spec["min"], spec["max"], spec["type"] == "integer")}
    # The contract counts every row of a repeated group, as Great Expectations' compound uniqueness does.
    duplicates = float(frame.duplicated(keep=False).mean())
    schema = {"task": task, "target": target, "target_kind": kind,
              "positive_label": positive if task == "binary" else None, "columns": columns, "sensitive": bands}
    return {"schema": schema, "gate": gate_values(task),
            "missing": {name: float(frame[name].isna().mean()) for name in frame},
            "duplicate_share": duplicates, "max_duplicate_share": headroom(duplicates)}


def scalar(text: str) -> str:
    """TEXT as a YAML scalar: bare where YAML reads it back as the same plain name, else double-quoted."""
    return text if re.fullmatch(r"[A-Za-z_][\w.-]*", text) and yaml.safe_load(text) == text else json.dumps(text)


def schema_yaml(schema: dict, source: str) -> str:
    """The `schema:` section as params.yaml writes it: one flow mapping per column, aligned."""
    width = max(len(scalar(name)) for name in schema["columns"]) + 2
    lines = [f"schema:                     # inferred by `driftline init {source}`; edit freely",
             f"  task: {schema['task']}",
             f"  target: {scalar(schema['target'])}",
             f"  target_kind: {json.dumps(schema['target_kind'])}  # count: a regression of a count (Poisson loss)",
             f"  positive_label: {json.dumps(schema['positive_label'])}"
             + ("" if schema["positive_label"] is not None else "  # binary tasks only"),
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


def gate_yaml(task: str, gate: dict, previous: dict | None) -> str:
    """The `gate:` section for TASK: GATE's checks, commented, then the PREVIOUS section's bootstrap rounds and
    infra check, which do not depend on the task."""
    kept = {k: v for k, v in (previous or {}).items() if k in ("bootstrap_rounds", "infra")}
    body = yaml.safe_dump(gate | kept, default_flow_style=None, sort_keys=False, width=math.inf).splitlines()
    lines = [f"gate:  # `driftline init` wrote it for a {task} task: what a model must pass to become champion"]
    for line in body:
        key = line.split(":", 1)[0]
        lines.append(f"  {line}" + (f"  # {GATE_COMMENTS[key]}" if key in GATE_COMMENTS else ""))
    return "\n".join(lines) + "\n"


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


def init(source: str | Path, params_path: Path, target: str, positive: str | None = None, sensitive: list[str] = (),
         categories: list[str] = (), force: bool = False, task: InitTask | None = None) -> dict:
    """Profile SOURCE and write the schema, the task's gate, validate.max_duplicate_share and a `card:` of
    placeholders into PARAMS_PATH; the profile.

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
    found = profile(read_text(source, na_values), target, positive, sensitive, categories, task)
    text = replace_section(text, "schema", schema_yaml(found["schema"], str(source)))
    text = replace_section(text, "gate", gate_yaml(found["schema"]["task"], found["gate"], raw.get("gate")))
    lines = text.splitlines()
    span = section_span(lines, "card") or (0, 0)
    comments = [line for line in lines[span[0] + 1:span[1]] if line.lstrip().startswith("#")]
    text = replace_section(text, "card", card_yaml(str(source), raw.get("card"), comments))
    write_checked(params_path, set_value(text, "validate", "max_duplicate_share", found["max_duplicate_share"]))
    return found
