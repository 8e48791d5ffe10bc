"""`driftline monitor --every`: a span of the inference log monitored window by window, with the small project's
champion, one summary and one snapshot each; past alerts recorded, never raised."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from evidently.ui.workspace import Workspace

from driftline.config import load_params, with_values
from driftline.core.predictor import Predictor
from driftline.errors import MonitorError
from driftline.monitoring.windows import windows
from driftline.orchestration.monitor import backfill
from driftline.registry.resolver import resolve_model
from driftline.serving.log import InferenceLog
from tests.helpers.project import cli_in_process

START = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def records(predictor: Predictor, frame, created: datetime, prefix: str) -> list[dict]:
    """Log rows of FRAME's features as the service writes them, answered by PREDICTOR at CREATED."""
    outputs = predictor.predict(predictor.typed_frame(frame[predictor.schema.features].to_dict("list")))
    features = frame[predictor.schema.features].to_dict("records")
    return [{"request_id": f"{prefix}-r", "record_id": f"{prefix}-{n}", "created": created, "model_version": "v1",
             "features": row, "probability": float(p), "label": str(label)}
            for n, (row, p, label) in enumerate(zip(features, outputs["probability"], outputs["label"]))]


@pytest.fixture(scope="module")
def log(trained, held_out, tmp_path_factory):
    """Records on days 0, 1 and 3 from START (day 1 older by 30 years: drifted), none on day 2."""
    url = f"sqlite:///{tmp_path_factory.mktemp('backfill') / 'inference.db'}"
    predictor = resolve_model(load_params(trained / "params.yaml"), trained, "champion").predictor()
    days = {0: held_out.iloc[:150], 1: held_out.iloc[150:300].assign(age=lambda f: f["age"] + 30),
            3: held_out.iloc[300:450]}
    writer = InferenceLog(url)
    for day, frame in days.items():
        writer.append(records(predictor, frame, (START + day * DAY + DAY / 2).replace(tzinfo=None), f"d{day}"))
    writer.close()
    return url


def test_windows_cut_the_span_and_the_last_ends_at_its_end():
    assert windows(START, START + 2.5 * DAY, DAY) == [
        (START, START + DAY), (START + DAY, START + 2 * DAY), (START + 2 * DAY, START + 2.5 * DAY)]
    with pytest.raises(MonitorError, match="empty"):
        windows(START, START, DAY)


def test_each_window_is_monitored_once_and_past_alerts_are_recorded_not_raised(trained, log, tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTLINE_LOG_URL", log)
    params = with_values(load_params(trained / "params.yaml"), {
        "monitor.reports_dir": str(tmp_path / "monitoring"), "monitor.workspace": str(tmp_path / "ws"),
        "monitor.explain_rows": 20})
    alerts_before = sorted((trained / "reports" / "alerts").glob("*.json"))
    done = backfill(params, trained, START, START + 4 * DAY, DAY)
    summaries = [s.to_json() for s in done["summaries"]]  # as summary.json holds each
    assert [s["window"]["start"] for s in summaries] == [(START + d * DAY).isoformat() for d in (0, 1, 3)]
    assert [s["rows"] for s in summaries] == [150, 150, 150]
    assert done["skipped"] == [{"start": (START + 2 * DAY).isoformat(), "end": (START + 3 * DAY).isoformat()}]
    age = [s["scores"]["age"] for s in summaries]
    assert age[1] > 3 * max(age[0], age[2]) and summaries[1]["alerts"]  # 150 rows: the others drift a little too
    assert sorted((trained / "reports" / "alerts").glob("*.json")) == alerts_before  # nothing raised
    assert all("alert_record" not in s for s in summaries)
    # the packaged model's spread reaches each window: the estimate's sampling error and its thresholds
    assert all(s["performance"]["sampling_error"]["roc_auc"] > 0 for s in summaries)
    assert all(t["lower"] < t["upper"] for s in summaries for t in s["performance"]["thresholds"].values())
    assert len(sorted((tmp_path / "monitoring").glob("*/*/summary.json"))) == 3
    workspace = Workspace(str(tmp_path / "ws"))
    [project] = workspace.search_project(params.package.model_name)
    stamps = sorted(workspace.get_run(project.id, run).timestamp for run in workspace.list_runs(project.id))
    assert stamps == [START + d * DAY + DAY for d in (0, 1, 3)]


def test_the_command_needs_a_start_and_a_duration(trained):
    def refused(*args: str) -> str:
        done = cli_in_process(trained, "monitor", *args, check=False)
        assert done.exit_code == 2
        return re.sub(r"[\s│╭╮╰╯─]+", " ", done.stderr)  # rich's box, unwrapped

    assert "a backfill needs where to start: --since or --from" in refused("--every", "1d")
    assert "'0d' is not a duration" in refused("--since", "3d", "--every", "0d")
