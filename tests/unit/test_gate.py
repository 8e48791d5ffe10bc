"""The gate's checks (directions, floors, fairness) and the registry's aliases, history and rollback."""

import json

import pytest

from driftline.config import ChangeThreshold, load_params
from driftline.errors import RegistryError
from driftline.registry.gate import blessing, change
from driftline.registry.store import CHAMPION, Registry

GOOD = {"roc_auc": 0.91, "calibration_error": 0.02, "accuracy": 0.86}
GAPS = {"sex_demographic_parity_difference": 0.16, "sex_equalized_odds_difference": 0.06,
        "sex_base_rate_difference": 0.19}


@pytest.mark.parametrize(
    ("bound", "candidate", "reference", "passed"),
    [
        (dict(metric="roc_auc", higher_is_better=True, absolute=-0.005), 0.906, 0.910, True),
        (dict(metric="roc_auc", higher_is_better=True, absolute=-0.005), 0.904, 0.910, False),
        (dict(metric="calibration_error", higher_is_better=False, absolute=0.01), 0.029, 0.02, True),
        (dict(metric="calibration_error", higher_is_better=False, absolute=0.01), 0.031, 0.02, False),
        (dict(metric="roc_auc", higher_is_better=True, relative=0.99), 0.905, 0.91, True),
        (dict(metric="roc_auc", higher_is_better=True, relative=0.99), 0.89, 0.91, False),
        (dict(metric="log_loss", higher_is_better=False, relative=1.05), 0.32, 0.30, False),
    ],
)
def test_change_thresholds_have_a_direction(bound, candidate, reference, passed):
    metric = bound["metric"]
    result = change({metric: candidate}, {metric: reference}, ChangeThreshold(**bound), "champion")
    assert result["passed"] is passed
    assert result["change"] == pytest.approx(candidate - reference)


def test_first_model_faces_floors_and_baseline_only():
    params = load_params().gate
    verdict = blessing(GOOD, {"roc_auc": 0.92}, None, GAPS, params)
    assert verdict["blessed"]
    assert {c["kind"] for c in verdict["checks"]} == {"floor", "fairness", "baseline"}


def test_each_failure_is_named():
    params = load_params().gate
    unfair = GAPS | {"sex_demographic_parity_difference": 0.35}  # labels' gap 0.19 + 0.1 allowed
    verdict = blessing(GOOD | {"roc_auc": 0.85}, {"roc_auc": 0.92}, GOOD, unfair, params)
    failed = {c["name"] for c in verdict["checks"] if not c["passed"]}
    assert not verdict["blessed"]
    assert failed == {"roc_auc", "roc_auc vs baseline", "roc_auc vs champion", "sex demographic_parity_difference"}


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
