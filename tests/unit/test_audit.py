from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config import Schema
from driftline.core.data import sensitive_groups
from driftline.stages.audit import _plots, group_fairness, plot_colours

# The first feature is a category: the beeswarm colours used to crash on that column order.
CATEGORY_FIRST = Schema.model_validate({
    "target": "y",
    "positive_label": "yes",
    "columns": {
        "colour": {"type": "category", "categories": ["red", "blue"]},
        "size": {"type": "float"},
        "y": {"type": "category", "categories": ["no", "yes"]},
    },
})


def test_group_metrics_and_gaps():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.3, 0.1])
    groups = pd.Series(["a"] * 4 + ["b"] * 4)
    tables, gaps = group_fairness(y, p, 0.5, groups)
    assert tables["a"]["selection_rate"] == pytest.approx(0.75)
    assert tables["b"]["selection_rate"] == pytest.approx(0.25)
    assert tables["a"]["tpr"] == 1 and tables["b"]["tpr"] == 0.5
    assert tables["a"]["fpr"] == 0.5 and tables["b"]["fpr"] == 0
    assert gaps["demographic_parity_difference"] == pytest.approx(0.5)
    assert gaps["equalized_odds_difference"] == pytest.approx(0.5)


def test_numeric_attributes_are_banded_and_missing_kept():
    groups = sensitive_groups(pd.Series([18.0, 30.0, np.nan]), [17.0, 25.0, 101.0])  # as params.yaml gives them
    assert groups.tolist() == ["[17.0, 25.0)", "[25.0, 101.0)", "missing"]


def test_plot_colours_do_not_depend_on_column_order():
    rows = pd.DataFrame({"colour": ["red", "blue", None], "size": [1.5, np.nan, 3.0]})
    colours = plot_colours(rows, CATEGORY_FIRST)
    np.testing.assert_array_equal(colours[:, 1], [1.5, np.nan, 3.0])
    assert np.isnan(colours[:, 0]).all()


def test_shap_plots_are_drawn_when_a_category_comes_first(tmp_path):
    rows = pd.DataFrame({"colour": ["red", "blue"] * 10, "size": np.linspace(0, 1, 20)})
    values = np.random.default_rng(0).normal(size=(20, 2))
    _plots(values, rows, CATEGORY_FIRST, tmp_path)
    assert (tmp_path / "shap_beeswarm.png").stat().st_size > 1000
    assert (tmp_path / "shap_importance.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def encoded(params):
    """A transform fitted on 400 Adult rows, and those rows."""
    from driftline.core.data import coerce
    from driftline.core.encoding import Transform

    raw = pd.read_csv(Path(__file__).resolve().parents[2] / "data" / "adult.csv", skipinitialspace=True,
                      na_values=["?"], keep_default_na=False, nrows=400)
    frame = coerce(raw, params.schema)
    return Transform.fit(frame, params.schema, params.featurize), frame


@pytest.mark.parametrize("model", ["mlp_plr", "mlp"])
def test_attributions_add_up_to_the_logit(params, encoded, model):
    import torch

    from driftline.core.explain import additivity_error, column_attributions
    from driftline.core.model import TabularNet

    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=3, blocks=2, width=32, dropout=0.0,
                     embedding=params.train.embedding.model_dump() if model == "mlp_plr" else None).eval()
    rows = frame.iloc[100:130]
    values, base = column_attributions(net, transform, frame.iloc[:40], rows)
    assert values.shape == (len(rows), len(transform.columns))
    assert additivity_error(net, transform, rows, values, base) < 1e-4
    assert np.abs(values).sum(axis=0).min() > 0  # every column has a say


def test_explaining_through_the_periodic_embeddings_would_not_add_up(params, encoded):
    """Why column_attributions explains the members' inputs: DeepExplainer on the raw inputs is wrong here."""
    import shap
    import torch

    from driftline.core.model import TabularNet

    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=3, blocks=2, width=32, dropout=0.0,
                     embedding=params.train.embedding.model_dump()).eval()
    x = torch.from_numpy(transform(frame.iloc[100:130]))
    explainer = shap.DeepExplainer(net, torch.from_numpy(transform(frame.iloc[:40])))
    values = np.asarray(explainer.shap_values(x, check_additivity=False)).reshape(len(x), -1)
    gap = values.sum(axis=1) + np.asarray(explainer.expected_value).reshape(-1)[0] - net(x).detach().squeeze(1).numpy()
    assert np.abs(gap).max() > 1e-2
