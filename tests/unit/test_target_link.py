"""Which links a regression target allows, and the links featurize.target_link forces (core.target_link)."""

import numpy as np
import pandas as pd
import pytest

from driftline.core import target_link
from driftline.core.encoding import Transform
from driftline.errors import ConfigError, DriftlineError

RNG = np.random.default_rng(0)
COUNTS = RNG.poisson(np.exp(RNG.normal(0, 1, 3000))).astype(float)  # zeros and a long tail


@pytest.mark.parametrize(("y", "count", "links"), [
    (COUNTS, True, ["poisson", "log1p"]),
    (RNG.poisson(20, 3000).astype(float), True, ["poisson"]),  # a count, but not skewed: no log1p
    (COUNTS, False, ["identity", "log1p"]),  # not declared a count: skewed with zeros
    (RNG.lognormal(3, 1, 3000), False, ["identity", "log"]),  # positive and skewed
    (RNG.normal(50, 5, 3000), False, ["identity"]),
    (RNG.lognormal(3, 1, 3000) - 30, False, ["identity"]),  # skewed, but negative values: no log
])
def test_the_links_a_target_allows_follow_its_values(y, count, links):
    assert target_link.allowed(y, count) == links


@pytest.mark.parametrize(("link", "y", "shown"), [("log", COUNTS, "above 0"), ("log1p", COUNTS - 1, "of 0 or more"),
                                                  ("poisson", COUNTS - 1, "of 0 or more")])
def test_a_forced_link_the_values_do_not_allow_is_refused_by_its_key(link, y, shown):
    with pytest.raises(ConfigError, match=f"featurize.target_link: {link} needs every value of target 'y' {shown}; "
                                          r"the training split's smallest is -?\d") as caught:
        target_link.choose(Transform(), pd.DataFrame(), y, pd.DataFrame(), y, link, False, 0, "y")
    assert isinstance(caught.value, DriftlineError)


def test_a_forced_or_only_link_is_fitted_without_a_probe():
    # an empty transform and no rows to probe: only a fit on the training targets can answer
    forced = target_link.choose(Transform(), pd.DataFrame(), COUNTS, pd.DataFrame(), COUNTS, "identity", True, 0, "y")
    assert forced.link == "identity" and forced.validation == {}
    only = target_link.choose(Transform(), pd.DataFrame(), RNG.normal(50, 5, 100), pd.DataFrame(), np.zeros(0),
                              "auto", False, 0, "y")
    assert only.link == "identity" and only.validation == {}
