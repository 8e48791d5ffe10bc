from pathlib import Path

import pytest
import yaml

from driftline.config import load_params
from driftline.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, edit) -> Path:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_shipped_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.schema.target == "income"
    assert "income" not in params.schema.features
    assert set(params.schema.sensitive) == {"sex", "race", "age"}


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda r: r["train"].update(max_epoch=3), "train.max_epoch"),
        (lambda r: r["train"].update(dropout=1.5), "train.dropout"),
        (lambda r: r["train"].update(sharing="tabm"), "train.sharing"),
        (lambda r: r["train"].update(sharing="packed", category_embedding=8), "set sharing: mini"),
        (lambda r: r["featurize"].update(test_size=0), "featurize.test_size"),
        (lambda r: r.update(extra_section={}), "extra_section"),
        (lambda r: r["schema"].update(target="salary"), "target 'salary'"),
        (lambda r: r["schema"]["sensitive"].update(height={}), "sensitive attribute 'height'"),
        (lambda r: r["schema"]["columns"]["age"].update(min=200), "min 200.0 is above max"),
        (lambda r: r["package"].update(model_name="Bad Name"), "package.model_name"),
        (lambda r: r["package"].update(max_records=0), "package.max_records"),
        (lambda r: r["monitor"].update(num_method="wasserstien"), "monitor.num_method"),
        (lambda r: r["schema"]["columns"]["income"]["categories"].append("unknown"), "exactly two categories"),
        (lambda r: r["schema"]["sensitive"]["age"].update(bins=[17, 65, 25]), "strictly increasing"),
        (lambda r: r["monitor"].update(segments=["sex", "height"]), "monitor.segments: 'height' is not a feature"),
        (lambda r: r["monitor"].update(segments=["income"]), "monitor.segments: 'income' is not a feature"),
        (lambda r: r["monitor"].update(segments=["fnlwgt"]), "the number 'fnlwgt' needs bins"),
        (lambda r: r["monitor"].update(segments=[{"column": "sex", "bins": [0, 1]}]), "'sex' has bins but is not"),
        (lambda r: r["monitor"].update(segments=["race", "race"]), "'race' is listed twice"),
        (lambda r: r["monitor"].update(segments=[{"column": "age", "bins": [40, 20]}]), "strictly increasing"),
        (lambda r: r["monitor"].update(segments=[{"column": "age", "edges": [1, 2]}]), "monitor.segments.0.edges"),
        (lambda r: r["monitor"].update(segment_fdr=0), "monitor.segment_fdr"),
        (lambda r: r["monitor"].update(min_segment_rows=1), "monitor.min_segment_rows"),
    ],
)
def test_bad_params_fail_naming_the_key(tmp_path, edit, named):
    with pytest.raises(ConfigError) as error:
        load_params(write(tmp_path, edit))
    assert named in str(error.value)


def test_segments_are_named_or_banded(tmp_path):
    """`sex` is short for {column: sex}; a number takes its own bins, or schema.sensitive's."""
    params = load_params(write(tmp_path, lambda r: r["monitor"].update(
        segments=["sex", {"column": "age"}, {"column": "hours_per_week", "bins": [1, 40, 100]}])))
    sex, age, hours = params.monitor.segments
    assert (sex.column, sex.bins, age.bins) == ("sex", None, None) and hours.bins == [1, 40, 100]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_params(tmp_path / "nope.yaml")


def test_declared_categories_are_read_as_cells_are(tmp_path):
    """A category declared with the spaces of its raw file matches its stripped cells (core.data.category_text)."""
    from driftline.core.contract import check, failures
    from driftline.core.data import category_text
    from tests.helpers.project import full_data

    def spaced(raw):
        raw["schema"]["columns"]["workclass"]["categories"] = [f" {c} " for c in
                                                              raw["schema"]["columns"]["workclass"]["categories"]]
        raw["schema"]["positive_label"] = raw["schema"]["positive_label"] + " "

    base = load_params(REPO / "params.yaml")
    params = load_params(write(tmp_path, spaced))
    declared = params.schema.columns["workclass"].categories
    assert declared == base.schema.columns["workclass"].categories == [category_text(f" {c} ") for c in declared]
    assert params.schema.positive_label == base.schema.positive_label
    rows = full_data().head(500).replace({"?": None})
    assert failures(check(rows, params.schema, params.validation)) == []


def test_two_declared_categories_that_strip_to_one_are_refused_naming_both(tmp_path):
    def doubled(raw):
        raw["schema"]["columns"]["workclass"]["categories"] += ["Private "]

    with pytest.raises(ConfigError) as error:
        load_params(write(tmp_path, doubled))
    assert "'Private'" in str(error.value) and "'Private '" in str(error.value)
    assert "schema.columns.workclass.categories" in str(error.value)
