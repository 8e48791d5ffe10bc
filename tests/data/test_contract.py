"""The data contract holds on the data set that ships with the project."""

from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

from driftline.core.contract import check, failures
from driftline.core.data import read_dataset
from driftline.stages.validate import group_summary

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frame(params):
    return read_dataset(params.data, params.schema, REPO)


def raw_csv(params) -> pd.DataFrame:
    """The shipped CSV files read with plain pandas, apart from driftline's reader."""
    files = sorted((REPO / params.data.dir).rglob("*.csv"))
    return pd.concat(
        [pd.read_csv(f, skipinitialspace=True, na_values=["?"], keep_default_na=False) for f in files],
        ignore_index=True,
    )


def test_shipped_data_meets_the_contract(params, frame):
    assert len(frame) >= 31561
    assert failures(check(frame, params.schema, params.validation)) == []


def test_every_sensitive_group_is_present_with_both_labels(params, frame):
    summary = group_summary(frame, params.schema)
    assert set(summary["sex"]) == {"Female", "Male"}
    assert all(0 < g["positive_rate"] < 1 for groups in summary.values() for g in groups.values())


def test_group_summary_matches_a_pandas_groupby_of_the_raw_csv(params, frame):
    summary = group_summary(frame, params.schema)
    raw = raw_csv(params)
    positive = raw["income"].eq(">50K")
    assert 0 < positive.sum() < len(raw)

    expected = {}
    for name in ("sex", "race"):
        table = positive.groupby(raw[name].fillna("missing")).agg(["count", "mean"])
        expected[name] = {group: (int(row["count"]), row["mean"]) for group, row in table.iterrows()}
    bins = params.schema.sensitive["age"].bins
    expected["age"] = {}
    for lo, hi in pairwise(bins):
        inside = (raw["age"] >= lo) & (raw["age"] < hi)
        if inside.any():
            expected["age"][str(pd.Interval(lo, hi, closed="left"))] = (int(inside.sum()), positive[inside].mean())
    assert sum(count for count, _ in expected["age"].values()) == len(raw)  # every age falls in a band

    assert set(summary) == set(params.schema.sensitive) == set(expected)
    for name, groups in expected.items():
        assert set(summary[name]) == set(groups), name
        for group, (count, rate) in groups.items():
            got = summary[name][group]
            assert got["count"] == count, (name, group)
            assert got["share"] == pytest.approx(count / len(raw), abs=1e-12), (name, group)
            assert got["positive_rate"] == pytest.approx(rate, abs=1e-12), (name, group)
