"""The gate's checks (directions, floors, fairness, every task) and the registry's aliases, history and rollback."""

import json

import pytest
from pydantic import ValidationError

from driftline.config import ChangeThreshold, Floor, GateParams, load_params
from driftline.core.profile import gate_values
from driftline.core.task import Task
from driftline.errors import ConfigError, RegistryError
from driftline.registry.store import CHAMPION, Registry
from driftline.release.gate import blessing, change, require_task
from driftline.schema import Schema

GOOD = {"roc_auc": 0.91, "calibration_error": 0.02, "accuracy": 0.86}
GAPS = {"sex_demographic_parity_difference": 0.16, "sex_equalized_odds_difference": 0.06,
        "sex_base_rate_difference": 0.19}
TARGETS = {"binary": {"type": "category", "categories": ["no", "yes"]},
           "multiclass": {"type": "category", "categories": ["a", "b", "c"]},
           "regression": {"type": "float", "min": 0, "max": 500}}


def task(kind: str) -> Task:
    return Task.of(Schema(task=kind, target="y", positive_label="yes" if kind == "binary" else None,
                          columns={"x": {"type": "float"}, "y": TARGETS[kind]}))


def gate(**values) -> GateParams:
    """Adult's gate with VALUES replaced."""
    return GateParams.model_validate(load_params().gate.model_dump() | values)


def new_data_gate(kind: str) -> GateParams:
    """The gate `driftline init` writes for a task, with Adult's bootstrap and infra settings."""
    adult = load_params().gate
    return GateParams.model_validate(gate_values(kind) | {"bootstrap_rounds": adult.bootstrap_rounds,
                                                          "infra": adult.infra.model_dump()})


@pytest.mark.parametrize(
    ("bound", "higher_is_better", "candidate", "reference", "passed"),
    [
        (dict(metric="roc_auc", absolute=-0.005), True, 0.906, 0.910, True),
        (dict(metric="roc_auc", absolute=-0.005), True, 0.904, 0.910, False),
        (dict(metric="calibration_error", absolute=0.01), False, 0.029, 0.02, True),
        (dict(metric="calibration_error", absolute=0.01), False, 0.031, 0.02, False),
        (dict(metric="roc_auc", relative=0.99), True, 0.905, 0.91, True),
        (dict(metric="roc_auc", relative=0.99), True, 0.89, 0.91, False),
        (dict(metric="log_loss", relative=1.05), False, 0.32, 0.30, False),
        (dict(metric="rmse", relative=1.05), False, 10.4, 10.0, True),
        (dict(metric="rmse", relative=1.05), False, 10.6, 10.0, False),
        (dict(metric="r2", absolute=-0.01), True, 0.5, 0.505, True),
        (dict(metric="rmse", absolute=0, strict=True), False, 9.9, 10.0, True),  # strictly better than the dummy
        (dict(metric="rmse", absolute=0, strict=True), False, 10.0, 10.0, False),  # equal is not better
        (dict(metric="roc_auc", absolute=0), True, 0.5, 0.5, True),  # not strict: meeting the bound passes
    ],
)
def test_change_thresholds_have_their_metric_direction(bound, higher_is_better, candidate, reference, passed):
    metric = bound["metric"]
    result = change({metric: candidate}, {metric: reference}, ChangeThreshold(**bound), "champion", higher_is_better)
    assert result.passed is passed
    assert result.change == pytest.approx(candidate - reference)


def test_first_model_faces_floors_fairness_baseline_and_dummy():
    params = load_params().gate
    # 0.01 below the baseline, but within the noise of the test split: the gain's interval reaches 0
    noise = {"baseline - candidate": [-0.004, 0.025]}
    verdict = blessing(task("binary"), {"candidate": GOOD, "baseline": {"roc_auc": 0.92}, "dummy": {"roc_auc": 0.5}},
                       GAPS, params, noise)
    assert verdict.blessed
    assert {c.kind for c in verdict.checks} == {"floor", "fairness", "baseline", "dummy"}
    assert [c.name for c in verdict.checks if c.kind == "floor"] == ["roc_auc", "calibration_error"]


def test_each_failure_is_named():
    params = load_params().gate
    unfair = GAPS | {"sex_demographic_parity_difference": 0.35}  # labels' gap 0.19 + 0.1 allowed
    metrics = {"candidate": GOOD | {"roc_auc": 0.85}, "baseline": {"roc_auc": 0.92}, "dummy": {"roc_auc": 0.5},
               "champion": GOOD}
    verdict = blessing(task("binary"), metrics, unfair, params)
    failed = {c.name for c in verdict.checks if not c.passed}
    assert not verdict.blessed
    assert failed == {"roc_auc", "roc_auc vs baseline", "roc_auc vs champion", "sex demographic_parity_difference"}


def test_floors_and_fairness_bounds_are_off_unless_set():
    params = gate(floors=[], max_parity_amplification=None, max_equalized_odds_difference=None)
    unfair = GAPS | {"sex_demographic_parity_difference": 0.9, "sex_equalized_odds_difference": 0.9}
    metrics = {"candidate": {"roc_auc": 0.6, "calibration_error": 0.3}, "baseline": {"roc_auc": 0.59},
               "dummy": {"roc_auc": 0.5}}
    verdict = blessing(task("binary"), metrics, unfair, params)
    assert verdict.blessed and {c.kind for c in verdict.checks} == {"baseline", "dummy"}


@pytest.mark.parametrize(
    ("kind", "candidate", "baseline", "dummy", "interval", "failed"),
    [  # INTERVAL: of baseline - candidate, as card.bootstrap_intervals gives it
        ("regression", {"rmse": 10.4, "r2": 0.6}, {"rmse": 10.0}, {"rmse": 16.0}, [-0.9, 0.1], set()),
        ("regression", {"rmse": 11.0, "r2": 0.5}, {"rmse": 10.0}, {"rmse": 16.0}, [-1.5, -0.5], {"rmse vs baseline"}),
        ("regression", {"rmse": 16.0, "r2": 0.0}, {"rmse": 20.0}, {"rmse": 16.0}, [3.0, 5.0], {"rmse vs dummy"}),
        ("multiclass", {"log_loss": 0.6, "accuracy": 0.8}, {"log_loss": 0.7}, {"log_loss": 1.1}, [0.05, 0.15], set()),
        ("multiclass", {"log_loss": 1.2, "accuracy": 0.4}, {"log_loss": 0.7}, {"log_loss": 1.1}, [-0.6, -0.4],
         {"log_loss vs baseline", "log_loss vs dummy"}),
        ("binary", {"roc_auc": 0.87}, {"roc_auc": 0.88}, {"roc_auc": 0.5}, [-0.002, 0.021], set()),
        ("binary", {"roc_auc": 0.87}, {"roc_auc": 0.88}, {"roc_auc": 0.5}, [0.004, 0.016], {"roc_auc vs baseline"}),
    ],
)
def test_the_gate_init_writes_refuses_a_model_shown_worse_than_its_baseline(kind, candidate, baseline, dummy,
                                                                              interval, failed):
    intervals = {"baseline - candidate": interval}
    verdict = blessing(task(kind), {"candidate": candidate, "baseline": baseline, "dummy": dummy}, {},
                       new_data_gate(kind), intervals)
    assert {c.name for c in verdict.checks if not c.passed} == failed
    assert verdict.blessed == (not failed)
    check = next(c for c in verdict.checks if c.kind == "baseline")
    assert check.interval == [-interval[1], -interval[0]] and "95% paired interval" in check.threshold


def test_without_an_interval_the_baseline_check_takes_the_point_estimate():
    metrics = {"candidate": {"rmse": 10.4}, "baseline": {"rmse": 10.0}, "dummy": {"rmse": 16.0}}
    verdict = blessing(task("regression"), metrics, {}, new_data_gate("regression"))
    check = next(c for c in verdict.checks if c.kind == "baseline")
    assert not check.passed and check.interval is None and check.threshold == "candidate - baseline <= 0.0"


def test_a_champion_is_met_in_the_metric_direction():
    metrics = {"candidate": {"rmse": 10.3}, "baseline": {"rmse": 10.5}, "dummy": {"rmse": 16.0},
               "champion": {"rmse": 10.0}}
    verdict = blessing(task("regression"), metrics, {}, new_data_gate("regression"))  # at most 2% above
    assert [c.name for c in verdict.checks if not c.passed] == ["rmse vs champion"]
    assert verdict.checks[-1].threshold == "candidate / champion <= 1.02"


def test_floors_take_their_metric_direction():
    params = new_data_gate("regression").model_copy(update={"floors": [Floor(metric="r2", min=0.3),
                                                                       Floor(metric="mae", max=12.0)]})
    metrics = {"candidate": {"rmse": 9.0, "r2": 0.25, "mae": 11.0}, "baseline": {"rmse": 10.0},
               "dummy": {"rmse": 16.0}}
    checks = blessing(task("regression"), metrics, {}, params).checks
    assert [(c.name, c.threshold, c.passed) for c in checks if c.kind == "floor"] == [
        ("r2", ">= 0.3", False), ("mae", "<= 12.0", True)]


def test_multiclass_and_regression_gaps_are_gated_when_set():
    params = new_data_gate("regression").model_copy(update={"max_gaps": {"mae_gap": 3.0}})
    gaps = {"group_mae_gap": 4.5, "group_rmse_gap": 9.0, "region_mae_gap": 1.0}
    metrics = {"candidate": {"rmse": 9.0}, "baseline": {"rmse": 10.0}, "dummy": {"rmse": 16.0}}
    fairness = [c for c in blessing(task("regression"), metrics, gaps, params).checks if c.kind == "fairness"]
    assert [(c.name, c.passed) for c in fairness] == [("group mae_gap", False), ("region mae_gap", True)]
    quiet = blessing(task("regression"), metrics, gaps, new_data_gate("regression"))
    assert quiet.blessed  # off by default


@pytest.mark.parametrize(
    ("kind", "values", "named"),
    [
        ("regression", {}, ["gate.floors[0]: regression tasks do not report 'roc_auc'",
                            "gate.baseline[0]: regression tasks do not report 'roc_auc'",
                            "gate.max_parity_amplification: for binary tasks only"]),
        ("multiclass", {"floors": [{"metric": "log_loss", "min": 0.2}], "max_parity_amplification": None,
                        "max_equalized_odds_difference": None, "baseline": [], "dummy": [], "champion": []},
         ["gate.floors[0]: 'log_loss' is better lower, so its bound is a max"]),
        ("multiclass", {"floors": [], "max_parity_amplification": None, "max_equalized_odds_difference": None,
                        "baseline": [], "dummy": [], "champion": [], "max_gaps": {"mae_gap": 1.0}},
         ["gate.max_gaps.mae_gap: the audit reports no 'mae_gap' for multiclass tasks"]),
        ("binary", {"max_gaps": {"accuracy_gap": 0.1}}, ["gate.max_gaps.accuracy_gap: binary tasks bound fairness"]),
        ("binary", {"champion": [{"metric": "rmse", "relative": 1.1}]},
         ["gate.champion[0]: binary tasks do not report 'rmse'"]),
    ],
)
def test_a_gate_that_does_not_fit_the_task_is_refused_by_name(kind, values, named):
    with pytest.raises(ConfigError) as refused:
        require_task(gate(**values), task(kind))
    assert all(line in str(refused.value) for line in named), str(refused.value)


def test_adult_and_init_gates_fit_their_tasks():
    require_task(load_params().gate, task("binary"))
    for kind in ("binary", "multiclass", "regression"):
        require_task(new_data_gate(kind), task(kind))


def test_a_metric_the_run_did_not_report_is_a_config_error():
    params = new_data_gate("regression").model_copy(update={"floors": [Floor(metric="mape", max=0.2)]})
    metrics = {"candidate": {"rmse": 9.0}, "baseline": {"rmse": 10.0}, "dummy": {"rmse": 16.0}}
    with pytest.raises(ConfigError, match="'mape', which the candidate's evaluation does not report"):
        blessing(task("regression"), metrics, {}, params)


@pytest.mark.parametrize(
    "bound",
    [{"metric": "auc", "absolute": 0}, {"metric": "rmse"}, {"metric": "rmse", "relative": 0}],
)
def test_bad_change_thresholds_are_refused_at_load(bound):
    with pytest.raises(ValidationError):
        ChangeThreshold(**bound)


@pytest.mark.parametrize("floor", [{"metric": "rmse"}, {"metric": "rmse", "min": 1, "max": 2},
                                   {"metric": "rmse_gap", "max": 2}])
def test_a_floor_has_one_bound_on_a_known_metric(floor):
    with pytest.raises(ValidationError):
        Floor(**floor)


def entry(version: str, blessed: bool = True) -> dict:
    return {"version": version, "model_tag": f"m:{version}", "blessed": blessed, "failed_checks": []}


def test_moves_are_recorded_and_rollback_returns_to_the_previous_champion(tmp_path):
    registry = Registry(tmp_path)
    for version in ("v1", "v2", "v3"):
        registry.register(entry(version))
        registry.move(CHAMPION, version, f"promote {version}")
    assert registry.previous_champion() == "v2"
    registry.move(CHAMPION, registry.previous_champion(), "rollback")
    again = Registry(tmp_path)  # state survives a reload, as plain JSON
    assert again.aliases == {CHAMPION: "v2"}
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(h["from"], h["to"], h["reason"]) for h in history] == [
        (None, "v1", "promote v1"), ("v1", "v2", "promote v2"), ("v2", "v3", "promote v3"), ("v3", "v2", "rollback")]


def test_unknown_versions_and_a_missing_champion_are_clear_errors(tmp_path):
    registry = Registry(tmp_path)
    with pytest.raises(RegistryError, match="there is no champion yet"):
        registry.get(CHAMPION)
    registry.register(entry("v1"))
    with pytest.raises(RegistryError, match=r"no registered version 'v9' \(registered: v1\)"):
        registry.get("v9")
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(entry("v1"))
    registry.move(CHAMPION, "v1", "first")
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.previous_champion()


def test_the_config_names_exactly_the_metrics_and_gaps_the_tasks_report():
    """config.py spells the gate's metric and gap names out (so params.yaml is checked at load, before torch is
    imported): they are exactly core.metrics' and core.fairness' own."""
    import typing

    from driftline.config import FairnessGap, GateMetric
    from driftline.core.fairness import gaps
    from driftline.core.metrics import HIGHER_IS_BETTER

    assert set(typing.get_args(GateMetric)) == {m for names in HIGHER_IS_BETTER.values() for m in names}
    schemas = {kind: Schema.model_validate({
        "task": kind, "target": "y", "columns": {"x": {"type": "float"}, "y": target}})
        for kind, target in (("multiclass", {"type": "category", "categories": ["a", "b", "c"]}),
                             ("regression", {"type": "float"}))}
    assert set(typing.get_args(FairnessGap)) == {g for s in schemas.values() for g in gaps(Task.of(s))}
