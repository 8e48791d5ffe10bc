"""A regression target's link (core.encoding.TargetScale), chosen on validation where more than one fits.

The links a target allows follow its values. A count (schema.target_kind) takes `poisson`, the loss whose
best answer is the mean, as squared error's is, and `log1p` where it is skewed above MAX_SKEW. Any other
target takes `identity`, and `log` where it is positive and skewed, or `log1p` where it is non-negative and
skewed with zeros. Where more than one fits, a LightGBM probe (LightGBM's own defaults, early-stopped on
validation) learns under each, and the link whose validation predictions have the lowest RMSE in the
target's units wins (the first in LINKS' order on a tie). Both members then learn under it, so that they
blend in one raw space.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.metrics import root_mean_squared_error

from driftline.core.data import columns_of
from driftline.core.encoding import LINKS, TargetScale, Transform
from driftline.core.trees import categorical, dataset, matrix, objective
from driftline.errors import ConfigError

MAX_SKEW = 1.0  # a target more skewed than this may be learned through its log
PROBE = {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "verbosity": -1, "deterministic": True,
         "force_col_wise": True}
PROBE_ROUNDS, PROBE_PATIENCE = 1000, 50


def allowed(y: np.ndarray, count: bool) -> list[str]:
    """The links training targets Y allow (the module's rules), in LINKS' order."""
    skewed = len(y) > 2 and skew(y) > MAX_SKEW
    fits = {"identity": not count, "log": not count and bool(y.min() > 0 and skewed),
            "log1p": bool(y.min() >= 0 and (y == 0).any() and skewed), "poisson": count}
    return [link for link in LINKS if fits[link]]


def refuse_impossible(link: str, y: np.ndarray, target: str) -> None:
    """A ConfigError where featurize.target_link names a link the training targets Y cannot take."""
    floor = {"log": (np.greater, "above 0"), "log1p": (np.greater_equal, "of 0 or more"),
             "poisson": (np.greater_equal, "of 0 or more")}.get(link)
    if floor is not None and not floor[0](y, 0).all():
        raise ConfigError(f"featurize.target_link: {link} needs every value of target '{target}' {floor[1]}; the "
                          f"training split's smallest is {y.min():g} (set target_link: auto or identity)")


def choose(transform: Transform, train: pd.DataFrame, y_train: np.ndarray, val: pd.DataFrame, y_val: np.ndarray,
           link: str, count: bool, seed: int, target: str) -> TargetScale:
    """The scale of LINK ("auto": the best on validation of those `allowed`), fitted on the training targets."""
    if link != "auto":
        refuse_impossible(link, y_train, target)
        return TargetScale.fit(y_train, link)
    links = allowed(y_train, count)
    if len(links) == 1:
        return TargetScale.fit(y_train, links[0])
    x, x_val = (matrix(transform, columns_of(frame, transform.columns)) for frame in (train, val))
    scores = {name: probe(TargetScale.fit(y_train, name), transform, x, y_train, x_val, y_val, seed)
              for name in links}
    scale = TargetScale.fit(y_train, min(scores, key=scores.get))
    scale.validation = scores
    return scale


def probe(scale: TargetScale, transform: Transform, x: np.ndarray, y: np.ndarray, x_val: np.ndarray,
          y_val: np.ndarray, seed: int) -> float:
    """The validation RMSE, in the target's units, of a LightGBM probe learning under SCALE."""
    cats = categorical(transform)
    train = dataset(x, scale.learned(y), cats, scale)
    val = dataset(x_val, scale.learned(y_val), cats, scale, reference=train)
    name, metric = objective("regression", scale)
    booster = lgb.train(PROBE | {"objective": name, "metric": metric, "seed": seed}, train, PROBE_ROUNDS,
                        valid_sets=[val], callbacks=[lgb.early_stopping(PROBE_PATIENCE, verbose=False)])
    return float(root_mean_squared_error(y_val, scale.decode(booster.predict(x_val, raw_score=True))))
