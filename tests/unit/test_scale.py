"""The paths that keep large data fast give the same answers as the value-by-value ones, and the stages that
sample (holdout splits, the baseline's fit) sample as declared."""

import logging
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from driftline.core.data import VECTORISED_ROWS, category_text, category_texts
from driftline.core.encoding import CategoricalEncoding
from driftline.core.splits import split
from driftline.stages.evaluate import _as_categories, fit_baseline
from tests.helpers.declared_types import SCHEMA, pandas_typed

VALUES = [" Male", "Female ", None, np.nan, pd.NA, "?", "", "True", "02139"]


def one_by_one(values):
    return np.array([np.nan if (t := category_text(v)) is None else t for v in values], dtype=object)


def same(a, b):
    return (pd.isna(a) == pd.isna(b)).all() and (a[~pd.isna(a)] == b[~pd.isna(b)]).all()


def test_a_large_text_column_takes_the_vectorised_path_to_the_same_texts():
    values = VALUES * (VECTORISED_ROWS // len(VALUES) + 2)
    assert len(values) > VECTORISED_ROWS
    assert same(category_texts(values), one_by_one(values))


def test_a_large_column_of_numbers_and_booleans_keeps_true_apart_from_one():
    values = [1, True, 1.0, False, 0, "1"] * VECTORISED_ROWS  # pandas would hash True and 1 alike
    texts = category_texts(values)
    assert list(texts[:6]) == ["1", "True", "1", "False", "0", "1"]
    assert same(texts, one_by_one(values))


def test_one_hot_rows_of_a_large_batch_equal_those_of_single_records():
    encoding = CategoricalEncoding(["Female", "Male", "True"])
    values = (VALUES + [True, "Other"]) * 40
    whole = encoding.encode(values)
    assert len(values) > VECTORISED_ROWS
    assert np.array_equal(whole, np.concatenate([encoding.encode([v]) for v in values]))
    assert whole.sum(axis=1).tolist() == [1.0] * len(values)


def labelled(n):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.integers(0, 2, n)})
    return frame, frame["y"]


def test_the_holdout_splits_stop_growing_at_the_cap():
    frame, y = labelled(5000)
    parts = split(frame, y, 0.15, 0.15, seed=1, max_holdout_rows=300)
    assert (len(parts["val"]), len(parts["test"]), len(parts["train"])) == (300, 300, 4400)
    assert abs(parts["test"]["y"].mean() - y.mean()) < 0.01  # still stratified


def test_without_a_cap_the_split_is_sklearns_split_by_shares():
    frame, y = labelled(1003)
    parts = split(frame, y, 0.15, 0.2, seed=3)
    rest, test = train_test_split(frame, test_size=0.2, stratify=y, random_state=3)
    train, val = train_test_split(rest, test_size=0.15 / 0.8, stratify=y[rest.index], random_state=3)
    assert len(test) == math.ceil(0.2 * 1003)
    for name, expected in (("train", train), ("val", val), ("test", test)):
        assert parts[name].index.equals(expected.index)


def test_the_baseline_fits_on_a_seeded_sample_of_max_rows(params, caplog):
    caplog.set_level(logging.INFO, logger="driftline")
    train = pandas_typed(1200)
    baseline = params.evaluate.baseline.model_copy(update={"max_rows": 1000, "max_iter": 20})
    cfg = params.evaluate.model_copy(update={"baseline": baseline})
    sampled = fit_baseline(train, SCHEMA, cfg)
    assert "sample of 1000 of 1200 training rows" in caplog.text
    direct = fit_baseline(train.sample(n=1000, random_state=cfg.baseline.seed), SCHEMA, cfg)
    rows = _as_categories(train, SCHEMA)
    assert np.array_equal(sampled.predict_proba(rows), direct.predict_proba(rows))
