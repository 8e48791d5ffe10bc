"""The typed records (a blessing, a rollout decision, a monitoring summary) load every form written to disk before
them, and write back what they read."""

import json

import pytest

from driftline.errors import MonitorError, RegistryError
from driftline.monitoring.summary import Figures, Summary
from driftline.release.blessing import Blessing
from driftline.release.rollout_decision import RolloutDecision
from tests.helpers.records import DECISION
from tests.helpers.summaries import old_summary, summary

GATE_CHECKS = [
    {"name": "roc_auc", "kind": "floor", "value": 0.92362, "threshold": ">= 0.88", "passed": True},
    {"name": "sex demographic_parity_difference", "kind": "fairness", "value": 0.154501,
     "threshold": "<= 0.293367 (labels' own gap 0.1934 + 0.1)", "passed": True},
    {"name": "roc_auc vs baseline", "kind": "baseline", "value": 0.92362,
     "threshold": "candidate - baseline >= -0.02", "passed": True, "reference": 0.922681, "change": 0.000939},
]
# the gate's own verdict, as model cards and the pull request report have held it since the first release
GATE_VERDICT = {"blessed": True, "checks": GATE_CHECKS}
# a release's blessing (registry/blessings/<version>.json), with the infra check, since the first release
RELEASED = {"version": "4b6v5vhlnsckcax4", "blessed": False, "checks": GATE_CHECKS + [
    {"name": "load and query", "kind": "infra", "value": None,
     "threshold": "ready within 120.0 s, all 200, equal offline, p99 <= 250.0 ms", "passed": False}],
    "infra": {"ready_s": None, "requests": 0, "passed": False, "reason": "not ready within 120.0 s"},
    "created": "2026-11-28T21:38:32+00:00"}


@pytest.mark.parametrize("stored", [GATE_VERDICT, RELEASED], ids=["gate verdict", "release blessing"])
def test_a_blessing_of_each_form_loads_and_writes_back_the_same(tmp_path, stored):
    path = tmp_path / "blessing.json"
    path.write_text(json.dumps(stored))
    blessing = Blessing.read(path)
    assert blessing.to_json() == stored
    assert blessing.failed == [c["name"] for c in stored["checks"] if not c["passed"]]
    assert blessing.checks[2].change == pytest.approx(0.000939) and blessing.checks[0].reference is None


def test_a_blessing_that_is_not_one_names_its_file(tmp_path):
    path = tmp_path / "blessing.json"
    path.write_text(json.dumps({"blessed": "perhaps", "checks": []}))
    with pytest.raises(RegistryError, match="blessing.json is not a readable blessing"):
        Blessing.read(path)


def test_a_stored_rollout_decision_loads_and_writes_back_the_same():
    decision = RolloutDecision.model_validate_json(json.dumps(DECISION))
    assert decision.model_dump(mode="json") == DECISION
    assert decision.guards.fairness.candidate.value == 0.11 and decision.realised.improvement == [0.02, 0.08]


def test_a_decision_with_an_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        RolloutDecision.model_validate(DECISION | {"outcome": "maybe"})


@pytest.mark.parametrize("window", [0, 2])
def test_a_monitoring_summary_of_each_form_loads_and_writes_back_the_same(tmp_path, window):
    for stored in (summary(window), old_summary(window)):  # today's form, and one from before tasks and estimates
        path = tmp_path / "summary.json"
        path.write_text(json.dumps(stored))
        loaded = Summary.read(path)
        assert loaded.to_json() == stored
        assert loaded.task == "binary" and loaded.drifted_columns == stored["drifted_columns"]
    assert Summary.read(path).window is None and Summary.read(path).performance is None  # the old form


def test_a_segment_reads_as_figures_and_a_summary_that_is_not_one_names_its_file(tmp_path):
    figures = Figures.model_validate({"rows": 80, "dataset_drift": None, "drifted_columns": None, "performance": {}})
    assert figures.task == "binary" and figures.drifted_columns is None
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(old_summary(0) | {"task": "ranking"}))
    with pytest.raises(MonitorError, match="summary.json is not a readable monitoring summary"):
        Summary.read(path)
