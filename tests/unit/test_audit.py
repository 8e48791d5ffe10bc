import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
import torch

from driftline.config import with_values
from driftline.core.blend import DEEP_ONLY, Blend
from driftline.core.data import coerce, sensitive_groups
from driftline.core.encoding import TargetScale, Transform
from driftline.core.explain import (
    ADDITIVITY_TOLERANCE,
    CHUNK_ROWS,
    EXPLAINED,
    Explainer,
    additivity_error,
    column_attributions,
    deeplift,
)
from driftline.core.model import TabularNet, raw_outputs
from driftline.core.predictor import Predictor
from driftline.core.task import Task
from driftline.errors import AuditError
from driftline.monitoring.attribution import attribution_drift
from driftline.schema import Schema
from driftline.stages import audit
from driftline.stages.audit import _plots, plot_colours
from tests.helpers import tiny_models

# The first feature is a category: the beeswarm colours used to crash on that column order.
CATEGORY_FIRST = Schema.model_validate({
    "target": "y",
    "task": "binary", "positive_label": "yes",
    "columns": {
        "colour": {"type": "category", "categories": ["red", "blue"]},
        "size": {"type": "float"},
        "y": {"type": "category", "categories": ["no", "yes"]},
    },
})


def test_numeric_attributes_are_banded_and_missing_kept():
    groups = sensitive_groups(pd.Series([18.0, 30.0, np.nan]), [17.0, 25.0, 101.0])  # as params.yaml gives them
    assert groups.tolist() == ["[17.0, 25.0)", "[25.0, 101.0)", "missing"]


def test_plot_colours_do_not_depend_on_column_order():
    rows = pd.DataFrame({"colour": ["red", "blue", None], "size": [1.5, np.nan, 3.0]})
    colours = plot_colours(rows, CATEGORY_FIRST)
    np.testing.assert_array_equal(colours[:, 1], [1.5, np.nan, 3.0])
    assert np.isnan(colours[:, 0]).all()


@pytest.mark.parametrize("outputs", [1, 3])
def test_shap_plots_are_drawn_when_a_category_comes_first(tmp_path, outputs):
    rows = pd.DataFrame({"colour": ["red", "blue"] * 10, "size": np.linspace(0, 1, 20)})
    values = np.random.default_rng(0).normal(size=(20, 2, outputs))
    _plots(values, values[:, :, 0], rows, CATEGORY_FIRST, tmp_path)
    assert (tmp_path / "shap_beeswarm.png").stat().st_size > 1000
    assert (tmp_path / "shap_importance.png").stat().st_size > 1000


@pytest.fixture(scope="module")
def encoded(params):
    """A transform fitted on 400 Adult rows, and those rows."""
    from driftline.core.data import coerce

    raw = pd.read_csv(Path(__file__).resolve().parents[2] / "data" / "adult.csv", skipinitialspace=True,
                      na_values=["?"], keep_default_na=False, nrows=400)
    frame = coerce(raw, params.schema)
    return Transform.fit(frame, params.schema, params.featurize), frame


@pytest.mark.parametrize(("model", "outputs", "sharing"), [
    ("mlp_plr", 1, "packed"), ("mlp", 1, "packed"), ("mlp_plr", 3, "packed"), ("mlp_plr", 1, "mini"),
    ("mlp_plr", 3, "mini")])
def test_attributions_add_up_to_each_output(params, encoded, model, outputs, sharing):
    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=4, blocks=2, width=32, dropout=0.1,
                     embedding=params.train.embedding.model_dump() if model == "mlp_plr" else None,
                     outputs=outputs, sharing=sharing, groups=2 if sharing == "mini" else 1,
                     categories=transform.categories, d_category=4 if sharing == "mini" else None).eval()
    rows = frame.iloc[100:130 if outputs == 1 else 110]
    values, base = column_attributions(Blend(transform, DEEP_ONLY, net), frame.iloc[:40], rows)
    assert values.shape == (len(rows), len(transform.columns), outputs) and base.shape == (outputs,)
    assert additivity_error(values, base, raw_outputs(net, transform(rows))) < 1e-4
    assert np.abs(values).sum(axis=0).min() > 0  # every column has a say in every output


@pytest.mark.filterwarnings("ignore:unrecognized nn.Module:UserWarning:shap")  # shap's, the reference, passes ours
@pytest.mark.parametrize(("model", "outputs", "sharing"), [
    ("mlp_plr", 1, "packed"), ("mlp_plr", 3, "packed"), ("mlp_plr", 3, "mini"), ("mlp", 1, "packed"),
    ("mlp", 3, "mini"), ("mlp_plr", 1, "mini")])
def test_deeplift_gives_shaps_own_values(params, encoded, model, outputs, sharing):
    """explain.deeplift tiles CHUNK_ROWS rows per pass where shap tiles one, and forwards the background once:
    the same attributions, every output and each row's largest (shap's ranked_outputs=1), over more rows than
    one pass holds. Mini models embed the categories (mlp: nothing else in front of the backbone)."""
    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=4, blocks=2, width=32, dropout=0.1,
                     embedding=params.train.embedding.model_dump() if model == "mlp_plr" else None,
                     outputs=outputs, sharing=sharing,
                     groups=2 if sharing == "mini" else 1, categories=transform.categories,
                     d_category=4 if sharing == "mini" else None).eval()
    x = torch.from_numpy(transform(frame.iloc[100:100 + 2 * CHUNK_ROWS + 3]))
    explainer = shap.DeepExplainer((net, net.backbone), torch.from_numpy(transform(frame.iloc[:40])))
    every = torch.arange(outputs).expand(len(x), outputs)
    assert np.allclose(deeplift(explainer, x, every), explainer.shap_values(x, check_additivity=False),
                       rtol=1e-4, atol=1e-6)
    theirs, ranks = explainer.shap_values(x, check_additivity=False, ranked_outputs=1)
    if outputs == 1:  # shap ranks nothing with one output
        ranks = every
    assert np.allclose(deeplift(explainer, x, torch.as_tensor(ranks)), theirs, rtol=1e-4, atol=1e-6)


def test_deeplift_refuses_a_layer_it_cannot_rescale(encoded):
    transform, frame = encoded
    net = TabularNet(transform.width, transform.scores, members=2, blocks=1, width=8, dropout=0.0).eval()
    net.backbone.append(torch.nn.LogSigmoid())  # nonlinear, and unknown to shap's op_handler
    explainer = shap.DeepExplainer((net, net.backbone), torch.from_numpy(transform(frame.iloc[:5])))
    with pytest.raises(AuditError, match="LogSigmoid"):
        deeplift(explainer, torch.from_numpy(transform(frame.iloc[5:7])), torch.zeros(2, 1, dtype=torch.long))


def test_explanations_in_threads_at_once_are_each_their_own(params, encoded):
    """The service explains on a thread pool: two explanations at once, with predictions served meanwhile,
    give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=4, blocks=2, width=32, dropout=0.1,
                     embedding=params.train.embedding.model_dump()).eval()
    batches = [frame.iloc[100:140], frame.iloc[200:240]]
    blend = Blend(transform, DEEP_ONLY, net)
    alone = [column_attributions(blend, frame.iloc[:40], rows)[0] for rows in batches]
    with ThreadPoolExecutor(3) as pool:
        running = [pool.submit(column_attributions, blend, frame.iloc[:40], rows) for rows in batches]
        for _ in range(20):
            raw_outputs(net, transform(frame.iloc[:300]))
        together = [future.result()[0] for future in running]
    for one, other in zip(alone, together):
        np.testing.assert_allclose(one, other, rtol=1e-5, atol=1e-7)


@pytest.mark.filterwarnings("ignore:unrecognized nn.Module:UserWarning:shap")  # shap's, the reference, passes ours
def test_explaining_through_the_periodic_embeddings_would_not_add_up(params, encoded):
    """Why column_attributions explains the members' inputs: DeepExplainer on the raw inputs is wrong here."""
    transform, frame = encoded
    torch.manual_seed(0)
    net = TabularNet(transform.width, transform.scores, members=3, blocks=2, width=32, dropout=0.0,
                     embedding=params.train.embedding.model_dump()).eval()
    x = torch.from_numpy(transform(frame.iloc[100:130]))
    explainer = shap.DeepExplainer(net, torch.from_numpy(transform(frame.iloc[:40])))
    values = np.asarray(explainer.shap_values(x, check_additivity=False)).reshape(len(x), -1)
    gap = values.sum(axis=1) + np.asarray(explainer.expected_value).reshape(-1)[0] - net(x).detach().squeeze(1).numpy()
    assert np.abs(gap).max() > 1e-2


SENSITIVE = {"group": {}, "age": {"bins": [18, 40, 80]}}
TINY_EMBEDDING = {"d_embedding": 4, "n_frequencies": 4, "frequency_init_scale": 0.1, "lite": True}


@pytest.fixture(scope="module", params=["binary", "multiclass", "regression"])
def audited(request, params, tmp_path_factory):
    """audit.run on an untrained network of each task (tests/tiny_models), over 450 training and 300 test rows."""
    kind = request.param
    declared = tiny_models.schema(kind).model_dump(mode="json") | {"sensitive": SENSITIVE}
    run_params = with_values(params, {"schema": declared, "audit.background_rows": 10, "audit.explain_rows": 20,
                                      "audit.min_group_size": 20})
    schema, task = run_params.schema, Task.of(run_params.schema)
    frame = coerce(tiny_models.table(kind, rows=750), schema)
    transform = Transform.fit(frame, schema, params.featurize)
    if kind == "regression":
        transform.target = TargetScale.fit(task.targets(frame), "log")
    torch.manual_seed(0)
    model = TabularNet(transform.width, transform.scores, members=2, blocks=1, width=16, dropout=0.0,
                       embedding=TINY_EMBEDDING, outputs=task.outputs).eval()
    root = tmp_path_factory.mktemp(kind)
    (root / "splits").mkdir()
    frame.iloc[:450].to_parquet(root / "splits/train.parquet")
    frame.iloc[450:].to_parquet(root / "splits/test.parquet")
    transform.save(root / "splits/transform.json")
    model.save(root / "model")
    (root / "decision.json").write_text(json.dumps(tiny_models.DECISIONS[kind]))
    metrics = audit.run(run_params, root / "splits", root / "model", root / "boost", root / "decision.json",
                        root / "audit", root / "audit.json")
    predictor = Predictor(Blend(transform, DEEP_ONLY, model), transform, schema, tiny_models.DECISIONS[kind],
                          ["?", ""], 100)
    return run_params, predictor, frame.iloc[:450], frame.iloc[450:], root, metrics


def read(path: Path) -> dict:
    return json.loads(path.read_text())


GAPS = {"binary": ["demographic_parity_difference", "equalized_odds_difference", "base_rate_difference"],
        "multiclass": ["accuracy_gap", "macro_f1_gap", "recall_gap"],
        "regression": ["mae_gap", "rmse_gap", "mean_prediction_gap"]}


def test_the_audit_explains_each_task_and_the_attributions_add_up(audited):
    run_params, predictor, train, test, root, _ = audited
    kind, cfg = predictor.task.kind, run_params.audit
    summary = read(root / "audit/shap_summary.json")
    assert summary["explained"] == EXPLAINED[kind] and summary["rows"] == cfg.explain_rows
    assert summary["additivity_error"] < ADDITIVITY_TOLERANCE
    assert set(summary["base_value"]) == set(predictor.task.classes) if kind == "multiclass" else \
        isinstance(summary["base_value"], float)
    # the importance is the mean |SHAP| over the rows and every output (each class of a multiclass model)
    values, _ = column_attributions(predictor.blend,
                                    train.sample(cfg.background_rows, random_state=cfg.seed),
                                    test.sample(cfg.explain_rows, random_state=cfg.seed))
    ranked = read(root / "audit/shap_importance.json")
    assert list(ranked) == sorted(ranked, key=lambda name: -ranked[name])
    expected = np.abs(values).mean(axis=(0, 2))
    np.testing.assert_allclose([ranked[name] for name in run_params.schema.features], expected, atol=1e-6)
    if kind == "multiclass":  # not the predicted class's alone
        top = predictor.blend.raw_frame(test.sample(cfg.explain_rows, random_state=cfg.seed))
        chosen = np.abs(values[np.arange(len(top)), :, top.argmax(axis=1)]).mean(axis=0)
        assert not np.allclose(chosen, expected, atol=1e-6)
    for plot in ("importance", "beeswarm"):
        assert (root / f"audit/shap_{plot}.png").stat().st_size > 1000


def test_the_audit_gates_each_tasks_fairness_on_what_the_model_answers(audited):
    run_params, predictor, _, test, root, metrics = audited
    kind, schema = predictor.task.kind, run_params.schema
    assert metrics == read(root / "audit.json")
    assert set(metrics) == {f"{name}_{gap}" for name in SENSITIVE for gap in GAPS[kind]}
    tables = read(root / "audit/fairness.json")
    answers = predictor.predict_columns({name: test[name].tolist() for name in schema.features})
    y = predictor.task.targets(test)
    groups = sensitive_groups(test["group"], None).to_numpy()
    for group, table in tables["group"].items():
        rows = groups == group
        assert table["count"] == rows.sum()
        if kind == "binary":
            assert table["selection_rate"] == pytest.approx(np.mean(answers["probability"][rows] >= 0.45))
        elif kind == "multiclass":
            right = answers["label"][rows] == np.array(schema.classes)[y[rows]]
            assert table["accuracy"] == pytest.approx(np.mean(right))
        else:
            assert table["mae"] == pytest.approx(np.mean(np.abs(answers["prediction"][rows] - y[rows])))
    gated = {g: t for g, t in tables["age"].items() if t["gated"]}
    assert all(t["count"] >= run_params.audit.min_group_size for t in gated.values())
    first = {"binary": "selection_rate", "multiclass": "accuracy", "regression": "mae"}[kind]
    spread = max(t[first] for t in gated.values()) - min(t[first] for t in gated.values())
    assert metrics[f"age_{GAPS[kind][0]}"] == pytest.approx(spread, abs=1e-6)
    if kind == "regression":
        assert [g for g, t in gated.items() if t["worst"]] == [max(gated, key=lambda g: gated[g]["mae"])]


def test_an_audit_whose_attributions_do_not_add_up_fails(audited, monkeypatch):
    _, predictor, train, test, root, _ = audited
    monkeypatch.setattr(audit, "ADDITIVITY_TOLERANCE", 0.0)  # no float sum is exact: nothing adds up
    with pytest.raises(AuditError, match=EXPLAINED[predictor.task.kind].split(" ")[0]):
        audit.explain(predictor.task, predictor.blend, train.head(5), test.head(5), root / "failed")


def test_the_explainer_answers_and_explains_each_task(audited):
    _, predictor, train, test, _, _ = audited
    kind, features = predictor.task.kind, predictor.schema.features
    columns = {name: test[name].head(6).tolist() for name in features}
    explainer = Explainer(predictor, train.head(10))
    explained = explainer.explain_columns(columns)
    answers = predictor.predict_columns(columns)
    raw = predictor.blend.raw(predictor.typed(columns))
    every, base = explainer.attributions(test.head(6))  # the audit's: every output
    # the answer's logit, or the prediction through its link (the log of the prediction under the log link)
    target = predictor.transform.target
    scale, shift = (target.std, target.mean) if kind == "regression" else (
        1.0 / predictor.task.temperature(predictor.decision), 0.0)
    keys = {"binary": ["probability", "logit"], "multiclass": ["label", "probability", "logit"],
            "regression": ["prediction", "link", "output"]}[kind]
    for n, answer in enumerate(explained):
        assert list(answer) == [*keys, "base_value", "attributions"] and list(answer["attributions"]) == features
        output = answer["output" if kind == "regression" else "logit"]
        assert abs(sum(answer["attributions"].values()) + answer["base_value"] - output) < ADDITIVITY_TOLERANCE
        assert output == pytest.approx(shift + scale * (raw[n].max() if kind == "multiclass" else raw[n, 0]),
                                       abs=1e-9)
        if kind == "regression":
            assert answer["link"] == "log" and output == pytest.approx(np.log(answer["prediction"]))
        top = raw[n].argmax()
        assert answer["base_value"] == pytest.approx(shift + scale * base[top], abs=1e-12)
        np.testing.assert_allclose(list(answer["attributions"].values()), scale * every[n, :, top], atol=1e-9)
        if kind == "regression":
            assert answer["prediction"] == pytest.approx(answers["prediction"][n])
        else:  # the probability /predict answers: of the positive class, or of the predicted class
            assert answer["probability"] == pytest.approx(answers["probability"][n])
        if kind == "multiclass":
            assert answer["label"] == answers["label"][n]


def test_attributions_of_the_audited_rows_rank_as_the_audit_did(audited):
    run_params, predictor, train, test, root, _ = audited
    cfg = run_params.audit
    reference = read(root / "audit/shap_importance.json")
    background = train.sample(cfg.background_rows, random_state=cfg.seed)
    drift = attribution_drift(predictor, background, test, reference, cfg.explain_rows, cfg.seed)
    assert drift["rows"] == cfg.explain_rows and drift["ndcg"] == pytest.approx(1.0)
    np.testing.assert_allclose([drift["mean_abs"][name] for name in reference], list(reference.values()), atol=1e-6)
