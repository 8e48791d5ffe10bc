"""The pull request report's pure parts: its markdown tables and the plots that dvc.yaml declares."""

import json

import yaml

from driftline.release.blessing import Blessing, Check
from driftline.reporting import pr_markdown as md
from driftline.reporting.pr_plots import Plot, declared_plots, draw, file_name, records


def test_the_metrics_diff_is_one_row_per_metric_with_a_signed_change_and_a_dash_for_a_new_one():
    diff = {"metrics/evaluate.json": {"roc_auc": {"old": 0.9, "new": 0.91234, "diff": 0.01234},
                                      "f1": {"old": None, "new": 0.7, "diff": None}}}
    table = md.metrics_diff_table(diff)
    assert table[2] == "| metrics/evaluate.json | roc_auc | 0.9000 | 0.9123 | +0.0123 |"
    assert table[3] == "| metrics/evaluate.json | f1 | - | 0.7000 | - |"
    assert md.metrics_diff_table({}) == ["No metrics differ from the base (or neither side has any)."]


def test_unchanged_metrics_are_folded_below_the_changed_ones():
    diff = {"metrics/evaluate.json": {"roc_auc": {"old": 0.9, "new": 0.9, "diff": 0.0},
                                      "f1": {"old": 0.6, "new": 0.7, "diff": 0.1}}}
    table = md.metrics_diff_table(diff)
    assert table[2] == "| metrics/evaluate.json | f1 | 0.6000 | 0.7000 | +0.1000 |" and len(table) == 11
    assert table[4] == "<details><summary>1 unchanged metric(s)</summary>" and table[-1] == "</details>"
    assert "| metrics/evaluate.json | roc_auc | 0.9000 | 0.9000 | +0.0000 |" in table[5:]
    assert md.metrics_diff_table({"m.json": {"a": {"old": 1, "new": 1, "diff": 0}}})[0] == "No metric changed."


def test_the_intervals_name_the_metric_and_each_difference():
    table = md.intervals_table({"champion": [0.9, 0.92], "candidate": [0.91, 0.93],
                                "candidate - champion": [-0.002, 0.011]}, "roc_auc")
    assert "roc_auc" in table[0] and table[-1] == "| candidate - champion | -0.0020 | 0.0110 |"


def test_the_gate_table_names_the_failed_checks_and_where_the_verdict_came_from():
    verdict = Blessing.of([
        Check(name="roc_auc vs champion", kind="champion", value=0.9, threshold=">= 0", passed=False),
        Check(name="load and query", kind="infra", value=None, threshold="all 200", passed=True)])
    table = md.gate_table(verdict, "Computed.")
    assert table[0] == "Verdict: **refused** (failed: roc_auc vs champion). Computed."
    assert table[-2:] == ["| roc_auc vs champion | 0.9000 | >= 0 | NO |", "| load and query | - | all 200 | yes |"]


def test_the_shap_table_shows_the_top_features_and_those_that_left_the_top():
    base = {"a": 3.0, "b": 2.0, "c": 1.0}
    candidate = {"c": 3.0, "a": 2.0, "b": 1.0}
    table = md.shap_table(base, candidate, top=2)
    assert table[2:] == ["| c | 3 | 1 | 1.0000 | 3.0000 |", "| a | 1 | 2 | 3.0000 | 2.0000 |",
                         "| b | 2 | 3 | 2.0000 | 1.0000 |"]
    alone = md.shap_table(None, candidate, top=1)
    assert "not available" in alone[0] and alone[-1] == "| 1 | c | 3.0000 |"


def test_the_fairness_gaps_show_the_change_and_a_dash_where_the_base_had_none():
    table = md.fairness_gaps_table({"sex_gap": 0.1}, {"sex_gap": 0.15, "race_gap": 0.2})
    assert table[2:] == ["| sex_gap | 0.1000 | 0.1500 | +0.0500 |", "| race_gap | - | 0.2000 | - |"]
    assert "no gaps" in md.fairness_gaps_table(None, {})[0]


def test_the_contract_lists_each_failed_expectation():
    result = {"success": False, "results": [
        {"success": True, "expectation_config": {"type": "expect_table_row_count_to_be_between", "kwargs": {}}},
        {"success": False, "expectation_config": {"type": "expect_column_values_to_not_be_null",
                                                  "kwargs": {"column": "age"}}}]}
    lines = md.contract_lines(result, {"rows": 10, "expectations": 2})
    assert lines == ["The data contract **failed**: 2 expectations on 10 rows.",
                     "- failed: expect_column_values_to_not_be_null age"]


def test_the_report_puts_each_section_under_its_heading_and_links_images_relatively():
    text = md.report("T", {"Plots": md.image_lines({"ROC": "report-plots/roc.png", "C": "report-plots/c.png"})})
    assert text.splitlines()[:7] == ["# T", "", "## Plots", "", "![ROC](report-plots/roc.png)", "",
                                     "![C](report-plots/c.png)"]
    assert md.image_lines({}) == ["No plots were found under plots/."]


DVC_YAML = """
stages:
  train:
    plots:
      - plots/history.json: {x: epoch, y: val_metric}
  evaluate:
    plots:
      - plots/roc: {cache: false}
plots:
  - ROC (test split): {x: fpr, y: {plots/roc/model.json: tpr, plots/roc/baseline.json: tpr}}
  - artifacts/audit/shap.png
"""


def test_the_declared_plots_come_from_dvc_yaml_top_level_first_and_axisless_stage_plots_are_skipped():
    plots, images = declared_plots(yaml.safe_load(DVC_YAML))
    assert plots == [Plot("ROC (test split)", "fpr", (("plots/roc/model.json", "tpr"),
                                                       ("plots/roc/baseline.json", "tpr"))),
                     Plot("val_metric by epoch (history)", "epoch", (("plots/history.json", "val_metric"),))]
    assert images == ["artifacts/audit/shap.png"] and file_name("ROC (test split)") == "roc-test-split.png"


def test_plot_data_reads_as_dvc_reads_it():
    assert list(records(json.dumps([{"x": 1, "y": 2}]), "a.json").columns) == ["x", "y"]
    assert records(json.dumps({"rows": [{"x": 1}]}), "a.json")["x"].tolist() == [1]
    assert records("x,y\n1,2\n", "a.csv")["y"].tolist() == [2]


def test_a_plot_is_drawn_as_png_only_where_the_candidate_has_data(tmp_path):
    data = {"c.json": json.dumps([{"x": 0, "y": 0}, {"x": 1, "y": 1}])}
    plot = Plot("t", "x", (("c.json", "y"),))
    assert draw(plot, lambda path, base: None if base else data.get(path), tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert not draw(Plot("u", "x", (("missing.json", "y"),)), lambda path, base: None, tmp_path / "u.png")
    assert not (tmp_path / "u.png").exists()


def test_the_dry_runs_verdict_file_is_read_where_it_exists(tmp_path):
    from driftline.reporting.pr import verdict

    path = tmp_path / "verdict.json"
    gate = {"blessed": True, "checks": [{"name": "load and query", "kind": "infra", "value": 3.0, "threshold": "",
                                        "passed": True}]}
    path.write_text(json.dumps({"dry_run": True, "blessed": True, "blessing": gate}))
    found, source = verdict(None, tmp_path, {}, path)
    assert found.to_json() == gate and "release --dry-run" in source
