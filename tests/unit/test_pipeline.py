"""Stage key figures and stage files (the light start of the CLI: tests/integration/test_pipeline.py)."""

import json
from pathlib import Path

import pytest

from driftline.core.artifacts import stage_file
from driftline.errors import ConfigError
from driftline.orchestration.pipeline import key_figure

DVC_YAML = """stages:
  audit:
    cmd: python -m pipelines.audit
    metrics:
      - metrics/empty.json:
          cache: false
      - metrics/audit.json:
          cache: false
"""


def test_key_figure_skips_empty_metrics_files(tmp_path):
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/empty.json").write_text("{}")  # e.g. audit with no sensitive attributes
    assert key_figure(tmp_path, "audit") == ""
    (tmp_path / "metrics/audit.json").write_text(json.dumps({"gap": 0.123456, "groups": 3}))
    assert key_figure(tmp_path, "audit") == "gap=0.1235"


def test_stage_files_come_from_dvc_yaml():
    repo = Path(__file__).resolve().parents[2]
    assert stage_file(repo, "evaluate", "scores.parquet") == repo / "artifacts/evaluate/scores.parquet"
    assert stage_file(repo, "evaluate", "evaluate.json") == repo / "metrics/evaluate.json"
    assert stage_file(repo, "train", "model.json") == repo / "artifacts/train/model.json"  # inside its one out
    with pytest.raises(ConfigError, match="writes no 'nope.json'"):
        stage_file(repo, "evaluate", "nope.json")
