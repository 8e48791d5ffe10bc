"""A monitoring run of each task's packaged model (tests/helpers/task_models.py, audited and packaged here) on a shifted
batch answered as the inference log stores answers: drift of the features and the answers, performance realised
and estimated, attributions, fairness, the markdown summary and the alerts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config import with_values
from driftline.core.metrics import PRIMARY
from driftline.core.predictor import Predictor
from driftline.monitoring.alerts import PARITY_GAP
from driftline.monitoring.analysis import Baseline, summary_markdown
from driftline.monitoring.drift import PREDICTION
from driftline.orchestration.monitor import report
from driftline.serving.answers import answer_columns, answer_records
from driftline.stages import audit
from driftline.stages.package import save_model
from tests.helpers import tiny_models
from tests.helpers.task_models import task_model

LABELLED = 400  # of the batch's 1,000 rows


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """Each task's model audited (a small SHAP sample) and saved in the BentoML store, once per module."""
    found = {}

    def package(kind: str):
        if kind not in found:
            model, folder = task_model(kind), tmp_path_factory.mktemp(f"audit-{kind}")
            params = with_values(model.params, {"audit.background_rows": 20, "audit.explain_rows": 40,
                                                "monitor.explain_rows": 20, "monitor.reference_rows": 1000})
            decision = model.root / "decision.json"
            audit.run(params, *model.members, decision, folder, folder / "audit.json")
            stored = save_model(params, *model.members, decision, folder)
            found[kind] = model, params, Path(stored.path)
        return found[kind]

    return package


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_a_monitoring_run_watches_each_tasks_answers(kind, packaged, tmp_path):
    model, params, folder = packaged(kind)
    predictor = Predictor.load(folder)
    task = predictor.task
    batch = tiny_models.table(kind, 1000, seed=3)
    batch["income"] *= 4  # richer customers: the features and the answers move
    target = task.schema.target
    batch[target] = [None if n >= LABELLED else str(v) for n, v in enumerate(batch[target])]  # late labels, as text
    answers = predictor.predict_columns({name: batch[name].to_numpy() for name in task.schema.features})
    logged = pd.DataFrame(answer_columns(task, answer_records(task, answers)))  # as the log reads them back

    baseline = Baseline.of(model.split("train"), predictor, folder, params)
    summary, _ = report(batch, baseline, predictor, "1", params, tmp_path / "reports", "shifted", outputs=logged)

    assert summary.task == kind and summary.rows == 1000
    assert "income" in summary.drifted_columns and summary.prediction_drift is True
    watched = {PREDICTION, *task.probability_columns} if kind == "multiclass" else {PREDICTION}
    assert watched <= set(summary.scores)
    performance = summary.performance
    assert performance["labelled_rows"] == LABELLED and performance["method"] == ("DLE" if kind == "regression"
                                                                                  else "CBPE")
    for source in ("realised", "estimated", "estimated_on_labelled", "reference"):
        assert np.isfinite(performance[source][PRIMARY[kind]]), source
    assert (Path(summary.report).parent / "performance.html").is_file()
    assert 0 <= summary.attribution["ndcg"] <= 1
    assert summary.fairness["group"][PARITY_GAP[kind]] is not None
    assert "dataset_drift" in {alert["rule"] for alert in summary.alerts}
    text = summary_markdown(summary)
    assert f"| {PRIMARY[kind]} |" in text and PARITY_GAP[kind] in text
