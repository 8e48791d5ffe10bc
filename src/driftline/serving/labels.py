"""Late labels: ground truth for logged records, joined into the inference log by record id."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from driftline.config import Params
from driftline.core import layout
from driftline.core.data import category_text
from driftline.core.sources import fetch, local_file, permission_bits, quarantine, shown, source_name, unpacked
from driftline.errors import ContractError, DataError
from driftline.schema import ColumnSpec, Schema
from driftline.serving.log import LABELS, PREDICTIONS, connect, log_url, record_id_field, utc_now

CHUNK = 500  # ids per IN (...) query


def problems_of(frame: pd.DataFrame, schema: Schema) -> list[str]:
    """What makes a label file (text cells) unusable: missing columns, empty ids, labels that are not declared
    categories (classification) or not numbers of the target's type (regression), an id labelled twice apart."""
    key, target = record_id_field(schema.columns), schema.target
    missing = [c for c in (key, target) if c not in frame.columns]
    if missing:
        return [f"missing column(s) {missing}: a label file has '{key}' (the record id) and '{target}'"]
    if frame.empty:
        return ["no rows"]
    problems = []
    if (frame[key] == "").any():
        problems.append(f"{int((frame[key] == '').sum())} row(s) without a record id")
    wrong = value_problems(frame[target], target, schema.columns[target])
    if wrong:
        return problems + wrong
    conflicting = frame.assign(**{target: label_texts(frame[target], schema)}).groupby(key)[target].nunique()
    if (conflicting > 1).any():
        problems.append(f"{int((conflicting > 1).sum())} id(s) labelled twice with different labels, such as "
                        f"{conflicting[conflicting > 1].index[0]!r}")
    return problems


def value_problems(values: pd.Series, name: str, spec: ColumnSpec) -> list[str]:
    """Label VALUES (text) that the target NAME declared as SPEC cannot take."""
    if not spec.numeric:
        unknown = sorted(set(values) - set(spec.categories))
        return [f"'{name}' has values outside {spec.categories}, such as {unknown[:3]}"] if unknown else []
    numbers = pd.to_numeric(values, errors="coerce")
    problems = []
    wrong = sorted(set(values[~np.isfinite(numbers)]))
    if wrong:
        problems.append(f"'{name}' has values that are not numbers, such as {wrong[:3]}")
    fractional = sorted(set(values[np.isfinite(numbers) & (numbers % 1 != 0)]))
    if spec.type == "integer" and fractional:
        problems.append(f"'{name}' is an integer column but has fractional values, such as {fractional[:3]}")
    return problems


def label_texts(values: pd.Series, schema: Schema) -> pd.Series:
    """Labels (valid text cells) as the log stores them: categories as they are, numbers by their canonical
    text (data.category_text: 12, 12.0 and 1.2e1 are all "12"), so that a label sent twice reads as one."""
    if not schema.columns[schema.target].numeric:
        return values
    return pd.to_numeric(values).map(category_text)


def store(url: str, labels: dict[str, str]) -> dict:
    """Upsert LABELS (record id: target) for ids the log holds, in one transaction; report the rest as unknown."""
    ids = list(labels)
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    engine = connect(url)
    try:
        with engine.begin() as connection:
            known, stored = set(), {}
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start:start + CHUNK]
                known |= set(connection.execute(select(PREDICTIONS.c.record_id).distinct()
                                                 .where(PREDICTIONS.c.record_id.in_(chunk))).scalars())
                stored |= dict(connection.execute(select(LABELS.c.record_id, LABELS.c.target)
                                                  .where(LABELS.c.record_id.in_(chunk))).tuples().all())
            now, new, changed = utc_now(), [], []
            for record_id in (i for i in ids if i in known):
                if record_id not in stored:
                    new.append({"record_id": record_id, "target": labels[record_id], "received": now})
                elif stored[record_id] != labels[record_id]:
                    changed.append((record_id, labels[record_id]))
                else:
                    counts["unchanged"] += 1
            if new:
                connection.execute(LABELS.insert(), new)
            for record_id, target in changed:
                connection.execute(LABELS.update().where(LABELS.c.record_id == record_id)
                                   .values(target=target, received=now))
    finally:
        engine.dispose()
    unknown = [i for i in ids if i not in known]
    return counts | {"new": len(new), "updated": len(changed), "unknown": len(unknown), "unknown_ids": unknown[:20]}


def run(source: str, params: Params, root: Path = Path(".")) -> dict:
    """Join the labels of the CSV at SOURCE into the inference log; a bad file is quarantined with its
    problems (as a refused batch is, keeping the file's permission bits) and nothing is written. A gzip file is
    unpacked, a symlink out of the project refused (core.sources). Idempotent: a second run changes nothing."""
    schema, name, mode = params.schema, source_name(source), permission_bits(local_file(source, root))
    content = None
    try:
        content = fetch(source)
        text = io.BytesIO(unpacked(content, shown(source)))
        frame = pd.read_csv(text, dtype=str, keep_default_na=False, skipinitialspace=True)
        frame = frame.apply(lambda column: column.str.strip())
        problems = problems_of(frame, schema)
    except DataError as exc:  # its message names the file
        problems = [str(exc)]
    except (ValueError, pd.errors.ParserError) as exc:
        problems = [f"{shown(source)} is not a readable CSV file: {exc}"]
    if problems:
        stamp = layout.stamp(layout.BATCH_STAMP)
        folder = root / params.ingest.quarantine_dir / f"{stamp}-labels-{name}"
        quarantine(content, name, {"source": shown(source), "problems": problems}, None, folder, mode)
        raise ContractError(problems + [f"label file quarantined in {folder}"])
    key = record_id_field(schema.columns)
    pairs = frame.drop_duplicates(key)
    labels = dict(zip(pairs[key], label_texts(pairs[schema.target], schema)))
    return store(log_url(params.serve.log_url, root), labels) | {"rows": len(frame)}
