"""The release's load-and-query check on a served model of the tasks the small Adult project does not have."""

import pytest

from driftline.config import InfraParams
from driftline.core.predictor import Predictor
from driftline.release.infra import load_and_query
from tests.helpers import tiny_models

pytestmark = pytest.mark.slow  # a `bentoml serve` per task (the fast tier checks the binary one at release)

SERVICE = "driftline.serving.service:Driftline"  # served from the source, as a built bento serves it


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_the_served_model_answers_as_it_scores_offline(kind):
    model = tiny_models.package(kind)
    predictor = Predictor.load(model.path)
    rows = tiny_models.table(kind, rows=20, seed=3)[predictor.schema.features]
    limits = InfraParams(rows=20, startup_timeout_s=90, max_p99_ms=1000)
    result = load_and_query(SERVICE, str(model.tag), predictor, rows, limits)
    assert result["passed"], result
    assert (result["requests"], result["mismatches"], result["out_of_range"]) == (20, 0, 0)
