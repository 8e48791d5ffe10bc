"""The data contract holds on the data set that ships with the project."""

from pathlib import Path

from driftline.config import load_params
from driftline.data import read_dataset
from driftline.validate import check, failures, group_summary

REPO = Path(__file__).resolve().parents[2]


def test_shipped_data_meets_the_contract():
    params = load_params(REPO / "params.yaml")
    frame = read_dataset(params.data, REPO)
    assert len(frame) >= 32561
    assert failures(check(frame, params.schema, params.validation)) == []


def test_every_sensitive_group_is_present_with_both_labels():
    params = load_params(REPO / "params.yaml")
    summary = group_summary(read_dataset(params.data, REPO), params.schema)
    assert set(summary["sex"]) == {"Female", "Male"}
    assert abs(sum(g["share"] for g in summary["race"].values()) - 1) < 1e-9
    assert all(0 < g["positive_rate"] < 1 for g in summary["sex"].values())
