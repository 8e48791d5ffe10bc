import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.preprocessing import QuantileTransformer

from driftline.core.encoding import Transform


def frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    rows = {
        "age": rng.integers(17, 90, n).astype(float),
        "sex": rng.choice(["Male", "Female"], n).astype(object),
    }
    return pd.DataFrame(rows)


def fitted(params, n_bins=32):
    columns = {k: params.schema.columns[k] for k in ("age", "sex", "income")}
    schema = params.schema.model_copy(update={"columns": columns})
    return Transform.fit(frame(), schema, params.featurize.model_copy(update={"n_bins": n_bins})), schema


def test_width_matches_slices_and_output(params):
    transform, _ = fitted(params)
    out = transform(frame(50, seed=1))
    assert out.shape == (50, transform.width)
    assert out.dtype == np.float32
    assert list(transform.slices) == ["age", "sex"]


def test_unknown_and_missing_categories_get_their_own_slot(params):
    transform, _ = fitted(params)
    start, end = transform.slices["sex"]
    out = transform(pd.DataFrame({"age": [30.0, 30.0, 30.0], "sex": ["Male", "Other", None]}))[:, start:end]
    vocabulary = transform.categorical["sex"].vocabulary
    assert out[0, vocabulary.index("Male")] == 1
    assert out[1, len(vocabulary)] == 1  # unknown
    assert out[2, len(vocabulary) + 1] == 1  # missing
    assert (out.sum(axis=1) == 1).all()


def test_missing_numbers_are_imputed_and_flagged(params):
    transform, _ = fitted(params)
    out = transform(pd.DataFrame({"age": [np.nan, transform.numeric["age"].median], "sex": ["Male", "Male"]}))
    assert out[0, 1] == 1 and out[1, 1] == 0
    np.testing.assert_array_equal(out[0, 2:], out[1, 2:])


def test_fitted_on_train_only_and_round_trips_through_json(params, tmp_path):
    schema = fitted(params)[1]
    # Ages 20..70 with a known spread: the fitted state must come from these rows, not from the schema.
    ages = np.repeat(np.arange(20.0, 71.0), 3)
    train = pd.DataFrame({"age": ages, "sex": np.resize(["Male", "Female", "Male"], len(ages)).astype(object)})
    transform = Transform.fit(train, schema, params.featurize.model_copy(update={"n_bins": 32}))
    age = transform.numeric["age"]
    assert schema.columns["age"].min == 17 and schema.columns["age"].max == 100
    assert age.edges[0] == age.quantiles[0] == 20.0  # train minimum, not the schema's 17
    assert age.edges[-1] == age.quantiles[-1] == 70.0  # train maximum, not the schema's 100
    assert age.median == 45.0
    assert transform.categorical["sex"].vocabulary == ["Female", "Male"]

    transform.save(tmp_path / "t.json")
    again = Transform.load(tmp_path / "t.json")
    assert again == transform
    sample = pd.DataFrame({"age": [17.0, 20.0, 45.5, 70.0, 95.0, np.nan], "sex": ["Male", "Female", "Other", None,
                                                                                  "Male", "Female"]})
    np.testing.assert_array_equal(transform(sample), again(sample))


def test_piecewise_linear_bins_are_monotone(params):
    transform, _ = fitted(params)
    ages = pd.DataFrame({"age": np.linspace(17, 90, 40), "sex": ["Male"] * 40})
    start, end = transform.slices["age"]
    bins = transform(ages)[:, start + 2 : end]
    assert (np.diff(bins.sum(axis=1)) >= 0).all()


def test_without_bins_a_number_is_its_score_and_missing_flag(params):
    transform, _ = fitted(params, n_bins=0)
    assert transform.slices["age"] == (0, 2) and transform.scores == [0]


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).lognormal(3, 1, 3000),
    # A spike: most rows 0, as capital_gain; ties must land mid-rank, as sklearn puts them.
    np.where(np.random.default_rng(1).random(3000) < 0.9, 0.0, np.random.default_rng(2).integers(1, 99999, 3000)),
])
def test_normal_scores_match_scikit_learns_quantile_transformer(params, values):
    train = pd.DataFrame({"age": values, "sex": ["Male"] * len(values)})
    schema = fitted(params)[1]
    transform = Transform.fit(train, schema, params.featurize)
    reference = QuantileTransformer(n_quantiles=1000, output_distribution="normal", subsample=None).fit(values[:, None])
    unseen = np.r_[np.random.default_rng(3).choice(values, 500), -1.0, 0.0, values.max() * 2]
    ours = transform.numeric["age"].normal_score(unseen)
    inner = unseen != values.min()  # sklearn pins a value equal to the train minimum to the lowest score ...
    np.testing.assert_allclose(ours[inner], reference.transform(unseen[inner, None])[:, 0], atol=1e-6)
    share = np.mean(values == values.min())  # ... where a spike there sits at its middle rank here
    np.testing.assert_allclose(ours[~inner], norm.ppf(share / 2), atol=0.01)
