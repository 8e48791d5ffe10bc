import numpy as np
import pandas as pd
import pytest

from driftline.audit import _plots, group_fairness, plot_colours
from driftline.config import Schema
from driftline.data import sensitive_groups

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
