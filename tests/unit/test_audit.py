import numpy as np
import pandas as pd
import pytest

from driftline.audit import group_fairness
from driftline.validate import sensitive_groups


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
