"""`driftline init`: type rules, the task, ranges, bands, and a params.yaml rewritten only where the schema, the gate
and the card live."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftline.cli import app
from driftline.config import load_params
from driftline.core.data import read_text, sensitive_groups
from driftline.core.profile import headroom, infer_type, init, numeric_range, profile, quantile_bins
from driftline.core.task import Task
from driftline.errors import ConfigError, DataError
from driftline.release.gate import require_task
from tests.helpers import tables

REPO = Path(__file__).resolve().parents[2]
CSV = """\
zone,age,score,flag,zip,paid,outcome
north,23,0.5,0,02139,True,yes
south,35,1.25,1,10001,False,no
north,47,? ,0,02139,True,no
east,52,2.0,1,94105,,yes
south,61,3.75,0,10001,False,no
"""


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["17", "40", "90"], "integer"),
        (["-3", "0", "12"], "integer"),
        (["0.5", "2", "1e3"], "float"),
        (["1.0", "2.0", "3.0"], "float"),  # spelt as decimals: float
        (["0", "1", "1"], "category"),  # two distinct integers: a flag
        (["True", "False"], "category"),
        (["02139", "10001"], "category"),  # a leading zero is part of the code
        (["red", "3"], "category"),
        (["1", "inf"], "category"),
    ],
)
def test_type_rules(values, kind):
    assert infer_type(pd.Series(values)) == kind


@pytest.mark.parametrize(
    ("numbers", "integer", "expected"),
    [
        ([17, 90], True, (9, 98)),  # 10% of the range each way, integral
        ([0, 10], True, (0, 11)),  # never negative: the min stays at 0
        ([-5, 5], True, (-6, 6)),
        ([3, 3], True, (2, 4)),  # a constant column still gets room
        ([0.12, 0.95], False, (0.03, 1.04)),
        ([12285, 1484705], True, (0, 1700000)),
    ],
)
def test_ranges_are_widened_and_rounded(numbers, integer, expected):
    low, high = numeric_range(pd.Series(numbers, dtype=float), integer)
    assert (low, high) == expected
    assert all(isinstance(v, int) for v in (low, high)) == integer


def test_headroom_above_the_observed_share():
    assert headroom(0) == 0.01
    assert headroom(0.0564) == 0.12
    assert headroom(0.7) == 1.0


@pytest.mark.parametrize("integer", [True, False])
def test_bins_are_increasing_and_cover_the_range(integer):
    numbers = pd.Series(range(18, 91), dtype=float) * (1 if integer else 0.37)
    low, high = numeric_range(numbers, integer)
    bins = quantile_bins(numbers, low, high, integer)
    assert bins[0] == low and len(bins) == 6
    assert all(b > a for a, b in zip(bins, bins[1:]))
    assert not sensitive_groups(numbers, bins).str.startswith("outside").any()
    if integer:
        assert all(isinstance(b, int) for b in bins)
        assert not sensitive_groups(pd.Series([float(low), float(high)]), bins).str.startswith("outside").any()


def test_bins_of_a_concentrated_column_stay_valid():
    numbers = pd.Series([5] * 90 + [6, 7, 8, 9, 40], dtype=float)
    bins = quantile_bins(numbers, *numeric_range(numbers, True), True)
    assert all(b > a for a, b in zip(bins, bins[1:])) and len(bins) >= 2


@pytest.fixture
def frame(tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    return read_text(tmp_path / "data.csv", ["?", ""])


def test_profile_infers_the_schema(frame):
    found = profile(frame, "outcome", "yes", sensitive=["zone", "age"])
    columns = found["schema"]["columns"]
    assert [c["type"] for c in columns.values()] == ["category", "integer", "float", "category", "category",
                                                     "category", "category"]
    assert columns["zip"]["categories"] == ["02139", "10001", "94105"]
    assert columns["flag"]["categories"] == ["0", "1"]
    assert columns["paid"] == {"type": "category", "max_missing": 0.4, "categories": ["False", "True"]}
    assert columns["score"]["max_missing"] == 0.4  # "? " is missing once stripped: 1 of 5
    assert "max_missing" not in columns["age"]
    assert found["schema"]["sensitive"]["zone"] == {}
    assert found["schema"]["sensitive"]["age"]["bins"][0] == columns["age"]["min"]
    assert found["max_duplicate_share"] == 0.01


def test_a_numeric_code_column_can_be_named_a_category(frame):
    found = profile(frame, "outcome", "yes", categories=["age"])
    assert found["schema"]["columns"]["age"]["categories"] == ["23", "35", "47", "52", "61"]


def test_a_binary_target_is_text_with_two_values(frame):
    numeric = frame.assign(outcome=frame["outcome"].map({"yes": "1", "no": "0"}))
    found = profile(numeric, "outcome", "1")
    assert found["schema"]["columns"]["outcome"] == {"type": "category", "categories": ["0", "1"]}
    assert found["schema"]["task"] == "binary" and found["schema"]["positive_label"] == "1"
    with pytest.raises(DataError, match="'1.0' is not a value of 'outcome'"):
        profile(numeric, "outcome", "1.0")
    with pytest.raises(DataError, match=r"two values \(no, yes\): a binary task; name the positive one with --pos"):
        profile(frame, "outcome")
    with pytest.raises(DataError, match="--positive is for binary tasks only"):
        profile(frame, "zone", "north")  # three values: multiclass
    with pytest.raises(DataError, match="'income' is not a column"):
        profile(frame, "income", "yes")
    with pytest.raises(DataError, match="'sex' is not a column"):
        profile(frame, "outcome", "yes", sensitive=["sex"])


COUNT_TARGET = np.random.default_rng(0).poisson(np.exp(np.linspace(-2, 3.5, 178)))  # wine's 178 rows: 0 to 33


def as_read(frame: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    """FRAME as init reads it: written to a CSV, read back as text."""
    frame.to_csv(tmp_path / "table.csv", index=False)
    return read_text(tmp_path / "table.csv", ["?", ""])


@pytest.mark.parametrize(
    ("table", "positive", "task", "target"),
    [
        (tables.diabetes, None, "regression", {"type": "float", "min": 0.0, "max": 380.0}),
        (tables.wine, None, "multiclass", {"type": "category", "categories": ["barbera", "barolo", "grignolino"]}),
        (tables.breast_cancer, "benign", "binary", {"type": "category", "categories": ["benign", "malignant"]}),
    ],
)
def test_the_task_is_inferred_from_the_target(table, positive, task, target, tmp_path):
    found = profile(as_read(table(), tmp_path), "target", positive)
    assert found["schema"]["task"] == task and found["schema"]["columns"]["target"] == target
    assert found["schema"]["positive_label"] == positive  # None unless binary: the key is always written


@pytest.mark.parametrize(("claims", "kind"), [
    (COUNT_TARGET, "count"),  # whole numbers from 0, zeros included, skewed right
    (COUNT_TARGET + 1, None),  # no zero
    (COUNT_TARGET + 0.5, None),  # not whole numbers
])
def test_a_count_target_is_declared_by_its_values(claims, kind, tmp_path):
    schema = profile(as_read(tables.wine().assign(target=claims), tmp_path), "target")["schema"]
    assert schema["task"] == "regression" and schema["target_kind"] == kind


def test_task_count_is_a_regression_of_whole_numbers_from_0(tmp_path):
    frame = as_read(tables.wine().assign(target=COUNT_TARGET), tmp_path)
    assert profile(frame, "target", task="regression")["schema"]["target_kind"] == "count"  # its values say so
    with pytest.raises(DataError, match=r"--task count needs integers of 0 or more; 'target' has values from -1 to "
                                        r"\d+$"):
        profile(as_read(tables.wine().assign(target=COUNT_TARGET - 1), tmp_path), "target", task="count")
    with pytest.raises(DataError, match=r"--task count needs integers of 0 or more; .*, not all integers"):
        profile(as_read(tables.wine().assign(target=COUNT_TARGET + 0.5), tmp_path), "target", task="count")


def test_a_few_distinct_numbers_are_refused_until_task_says_what_they_are(tmp_path):
    quality = tables.wine().assign(target=[3, 4, 5, 6, 7, 8, 9, 10, 11, 12] * 17 + [5] * 8)
    frame = as_read(quality, tmp_path)
    with pytest.raises(DataError, match=r"10 distinct numbers \(3, 4, 5, 6, 7, 8, 9, 10, 11, 12\): classes, "
                                        r"amounts or counts\? Pass --task multiclass, --task regression or --task "
                                        "count"):
        profile(frame, "target")
    classes = profile(frame, "target", task="multiclass")["schema"]
    assert classes["columns"]["target"]["categories"] == ["3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]
    amounts = profile(frame, "target", task="regression")["schema"]
    assert amounts["task"] == "regression" and amounts["columns"]["target"] == {"type": "integer", "min": 2, "max": 13}
    assert amounts["target_kind"] is None  # no zero: not a count
    counts = profile(frame, "target", task="count")["schema"]
    assert (counts["task"], counts["target_kind"]) == ("regression", "count")
    assert profile(frame, "target", categories=["target"])["schema"]["task"] == "multiclass"  # named a category
    with pytest.raises(DataError, match="--task binary needs a target of two values; 'target' has 10"):
        profile(frame, "target", "3", task="binary")
    with pytest.raises(DataError, match="--task regression needs a numeric target"):
        profile(as_read(tables.wine(), tmp_path), "target", task="regression")
    with pytest.raises(DataError, match="--positive is for binary tasks only; 'target' is a regression target"):
        profile(frame, "target", "3", task="regression")
    with pytest.raises(DataError, match="takes one value only"):
        profile(frame.assign(target="7"), "target")


@pytest.fixture
def project(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "data.csv").write_text(CSV)
    return tmp_path


def outside_schema(text: str) -> list[str]:
    """The lines of a params.yaml outside its schema, gate and card sections (and their comment lines), and other
    than validate's duplicate share."""
    lines = text.splitlines()
    for section in ("schema:", "gate:", "card:"):
        start = lines.index(next(line for line in lines if line.startswith(section)))
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        stop = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()
                     and not lines[i].startswith(section) and not lines[i].startswith("#")), len(lines))
        lines = lines[:start] + lines[stop:]
    return [line for line in lines if "max_duplicate_share" not in line]


def test_init_refuses_to_replace_a_schema_without_force(project):
    before = (project / "params.yaml").read_text()
    with pytest.raises(ConfigError, match="already has a schema of 15 columns.*--force"):
        init(project / "data.csv", project / "params.yaml", "outcome", "yes")
    assert (project / "params.yaml").read_text() == before


def test_init_rewrites_only_the_schema_the_gate_the_card_and_the_duplicate_share(project):
    before = (project / "params.yaml").read_text()
    init(project / "data.csv", project / "params.yaml", "outcome", "yes", ["age"], force=True)
    after = (project / "params.yaml").read_text()
    assert outside_schema(after) == outside_schema(before)  # every other line, comments included
    assert "  max_duplicate_share: 0.01  # share of rows that repeat another row exactly" in after
    params = load_params(project / "params.yaml")
    assert list(params.schema.columns) == ["zone", "age", "score", "flag", "zip", "paid", "outcome"]
    assert params.schema.positive_label == "yes" and list(params.schema.sensitive) == ["age"]
    assert params.schema.task == "binary"
    assert params.train == load_params(REPO / "params.yaml").train
    # the card's text about the data is the user's to write: Adult's is gone, placeholders say so
    assert params.card.unfilled() == ["card.intended_use", "card.out_of_scope", "card.data_origin", "card.limitations"]
    card = after[after.index("\ncard:"):]
    card = card[:card.index("\n\n")] if "\n\n" in card else card
    assert not {"income", "census"} & {w for line in card.lower().splitlines() if not line.strip().startswith("#")
                                       for w in line.replace(".", " ").split()}
    # Adult's card text is not lost: it stays below the placeholders, commented out
    kept = [line for line in card.splitlines() if line.startswith("  # ")]
    assert any("intended_use: " in line and "Estimate the probability that a person" in line for line in kept)
    assert yaml.safe_load("\n".join(line[4:] for line in kept[1:])) == yaml.safe_load(
        (REPO / "params.yaml").read_text())["card"]
    init(project / "data.csv", project / "params.yaml", "outcome", "yes", force=True)
    assert load_params(project / "params.yaml").schema.sensitive == {}
    assert (project / "params.yaml").read_text().count("Estimate the probability that a person") == 1  # kept once


def test_init_writes_nothing_that_does_not_load(project):
    path = project / "params.yaml"
    path.write_text(path.read_text().replace("  width: 200", "  width: -1"))
    before = path.read_text()
    with pytest.raises(ConfigError, match="params.yaml is invalid:\n  train.width"):
        init(project / "data.csv", path, "outcome", "yes", ["zone"], force=True)
    assert path.read_text() == before
    assert sorted(p.name for p in project.iterdir()) == ["data.csv", "params.yaml"]  # no temporary file left


def test_cli_refusal_names_force(project):
    result = CliRunner().invoke(app, ["init", str(project / "data.csv"), "--target", "outcome", "--positive", "yes",
                                      "--params", str(project / "params.yaml")])
    assert result.exit_code == 1
    assert "pass --force" in result.output


@pytest.mark.parametrize(("table", "task", "primary"), [(tables.diabetes, "regression", "rmse"),
                                                        (tables.wine, "multiclass", "log_loss")])
def test_init_writes_the_task_and_its_gate(project, table, task, primary):
    table().to_csv(project / "table.csv", index=False)
    adult = load_params(project / "params.yaml")
    found = init(project / "table.csv", project / "params.yaml", "target", force=True)
    params = load_params(project / "params.yaml")
    assert params.schema.task == task and params.schema.positive_label is None
    assert "  positive_label: null" in (project / "params.yaml").read_text()  # the key dvc.yaml depends on
    assert "  target_kind: null" in (project / "params.yaml").read_text()  # the same
    gate = params.gate
    assert found["gate"] == gate.model_dump(exclude={"bootstrap_rounds", "infra"}, exclude_defaults=True) | {
        "floors": [], "max_gaps": {}}
    assert gate.floors == [] and gate.max_gaps == {} and gate.max_parity_amplification is None
    assert [(b.metric, b.absolute, b.relative) for b in (*gate.baseline, *gate.champion)] == [
        (primary, 0, None), (primary, None, 1.02)]
    assert [(b.metric, b.absolute, b.strict) for b in gate.dummy] == [(primary, 0, True)]
    assert (gate.bootstrap_rounds, gate.infra) == (adult.gate.bootstrap_rounds, adult.gate.infra)  # kept
    require_task(gate, Task.of(params.schema))


def test_init_declares_a_count_and_the_schema_loads_it(project):
    tables.wine().assign(target=COUNT_TARGET).to_csv(project / "table.csv", index=False)
    init(project / "table.csv", project / "params.yaml", "target", force=True)
    schema = load_params(project / "params.yaml").schema
    assert (schema.task, schema.target_kind, schema.columns["target"].type) == ("regression", "count", "integer")
    result = CliRunner().invoke(app, ["init", str(project / "table.csv"), "--target", "target", "--force",
                                      "--params", str(project / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert "task: regression of a count" in result.output


def test_init_gates_a_binary_task_as_adult_without_its_floors(project):
    init(project / "data.csv", project / "params.yaml", "outcome", "yes", force=True)
    gate, adult = load_params(project / "params.yaml").gate, load_params(REPO / "params.yaml").gate
    assert gate.floors == [] and adult.floors  # Adult's floors are Adult's
    assert gate.model_dump(exclude={"floors", "dummy"}) == adult.model_dump(exclude={"floors", "dummy"})
    assert gate.dummy == adult.dummy


def test_cli_names_the_task_and_its_gate(project):
    tables.diabetes().to_csv(project / "table.csv", index=False)
    result = CliRunner().invoke(app, ["init", str(project / "table.csv"), "--target", "target", "--force",
                                      "--params", str(project / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert 'task: regression; its gate: {"floors": [], "baseline": [{"metric": "rmse"' in result.output
    refused = CliRunner().invoke(app, ["init", str(project / "table.csv"), "--target", "target", "--task", "binary",
                                       "--force", "--params", str(project / "params.yaml")])
    assert refused.exit_code == 1 and "--task binary needs a target of two values" in refused.output
