import math

import pytest
import torch

from driftline.core.model import Dropout, TabularNet
from driftline.errors import ConfigError

EMBEDDING = {"d_embedding": 4, "n_frequencies": 3, "frequency_init_scale": 1.0, "lite": False}


def net(**kwargs) -> TabularNet:
    settings = {"in_features": 6, "embedded": [0, 3], "members": 3, "blocks": 2, "width": 8, "dropout": 0.0,
                "embedding": EMBEDDING} | kwargs
    return TabularNet(**settings).eval()


def test_forward_is_member_mean_plus_offset():
    torch.manual_seed(0)
    model = net(logit_offset=TabularNet.offset_for(4.0))
    x = torch.randn(7, 6)
    expected = model.member_outputs(x).mean(dim=1) - math.log(4.0)
    torch.testing.assert_close(model(x), expected)
    assert model(x).shape == (7, 1)


def test_a_head_of_k_outputs_with_one_offset_per_class():
    torch.manual_seed(0)
    weights = [0.5, 1.0, 2.0]
    model = net(outputs=3, logit_offset=TabularNet.offset_for(weights))
    x = torch.randn(7, 6)
    assert model.member_outputs(x).shape == (7, 3, 3)
    expected = model.member_outputs(x).mean(dim=1) - torch.log(torch.tensor(weights))
    torch.testing.assert_close(model(x), expected)


def test_members_are_independent_networks_with_their_own_embeddings():
    """Member m's logit is what a lone network with member m's weights computes: one batched graph, k models."""
    torch.manual_seed(0)
    model = net()
    lone = net(members=1)
    state = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("embeddings.periodic."):  # (members * embedded, frequencies)
            state[name] = tensor[2:4]
        elif name.startswith("embeddings.linear."):  # (members * embedded, ...)
            state[name] = tensor[2:4]
        elif name.startswith("backbone."):  # (members, ...)
            state[name] = tensor[1:2]
        else:
            state[name] = tensor
    lone.load_state_dict(state)
    x = torch.randn(5, 6)
    torch.testing.assert_close(model.member_outputs(x)[:, 1:2], lone.member_outputs(x))
    assert not torch.allclose(model.member_outputs(x)[:, 0], model.member_outputs(x)[:, 1])


def test_numbers_are_embedded_and_the_rest_passed_through():
    model = net()
    assert model.sources == [0] * 4 + [3] * 4 + [1, 2, 4, 5]
    assert model.member_inputs(torch.randn(2, 6)).shape == (2, 3, 12)
    plain = net(embedding=None)
    assert plain.sources == list(range(6)) and plain.embeddings is None
    x = torch.randn(2, 6)
    torch.testing.assert_close(plain.member_inputs(x), x[:, None, :].expand(2, 3, 6))


@pytest.mark.parametrize(("embedding", "outputs"), [(EMBEDDING, 1), (None, 1), (EMBEDDING, 4)])
def test_save_and_load_give_identical_outputs(tmp_path, embedding, outputs):
    model = net(embedding=embedding, dropout=0.1, logit_offset=-0.5, outputs=outputs)
    model.save(tmp_path)
    loaded = TabularNet.load(tmp_path)
    x = torch.randn(4, 6)
    torch.testing.assert_close(model(x), loaded(x))
    assert (tmp_path / "model.safetensors").is_file()


def test_activations_are_distinct_modules():
    relus = [m for m in net().backbone.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) == 2


def test_mini_groups_are_independent_networks():
    """Group g's members compute what a lone one-group network with group g's weights computes, and the
    members of a group share the MLP but not their outputs."""
    torch.manual_seed(0)
    model = net(members=6, sharing="mini", groups=3)
    lone = net(members=2, sharing="mini", groups=1)
    prefix = {"embeddings.1.": "embeddings.0.", "backbone.networks.1.": "backbone.networks.0."}
    state = {name.replace(old, new): tensor for name, tensor in model.state_dict().items()
             for old, new in prefix.items() if name.startswith(old)}
    lone.load_state_dict(state | {k: v for k, v in model.state_dict().items() if "." not in k})
    x = torch.randn(5, 6)
    torch.testing.assert_close(model.member_outputs(x)[:, 2:4], lone.member_outputs(x))
    assert not torch.allclose(model.member_outputs(x)[:, 2], model.member_outputs(x)[:, 3])
    assert model.member_inputs(x).shape == (5, 6, 12) and model.sources == net().sources
    assert sum(t.numel() for t in model.parameters()) < sum(t.numel() for t in net(members=6).parameters())


@pytest.mark.parametrize("embedding", [EMBEDDING, None])
def test_mini_save_and_load_give_identical_outputs(tmp_path, embedding):
    model = net(embedding=embedding, members=4, sharing="mini", groups=2, outputs=3)
    model.save(tmp_path)
    x = torch.randn(4, 6)
    torch.testing.assert_close(model(x), TabularNet.load(tmp_path)(x))


@pytest.mark.parametrize("sharing", ["packed", "mini"])
def test_models_saved_with_or_without_the_derived_buffers_load(tmp_path, sharing):
    """Models packaged before c870f6c saved no one_hot buffer, those packaged since saved it (and mini's
    category embeddings their column): both load, to the same outputs."""
    from safetensors.torch import load_file, save_file

    model = net(members=4, sharing=sharing, groups=2 if sharing == "mini" else 1)
    model.save(tmp_path)
    x = torch.randn(4, 6)
    state = load_file(tmp_path / "model.safetensors")
    assert "one_hot" not in state
    save_file(state | {"one_hot": torch.tensor([], dtype=torch.long)}, tmp_path / "model.safetensors")
    torch.testing.assert_close(model(x), TabularNet.load(tmp_path)(x))
    save_file(state | {"unknown": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(RuntimeError, match="unknown"):  # a stray weight is still refused
        TabularNet.load(tmp_path)


def test_packed_models_keep_the_model_json_they_had():
    assert set(net().config) == {"in_features", "embedded", "members", "blocks", "width", "dropout", "embedding"}


def test_members_that_do_not_split_into_groups_are_refused():
    with pytest.raises(ConfigError, match="5 members do not split into 2 groups"):
        net(members=5, sharing="mini", groups=2)


@pytest.mark.parametrize("p", [0.1, 0.385, 0.5])
def test_dropout_keeps_nn_dropouts_statistics(p):
    """The byte-mask Dropout drops the share nn.Dropout does (its rate rounded to 1/256) and keeps the mean."""
    torch.manual_seed(0)
    x = torch.ones(400_000)
    ours, theirs = Dropout(p).train()(x), torch.nn.Dropout(p).train()(x)
    assert abs((ours == 0).float().mean() - (theirs == 0).float().mean()) < 1 / 256 + 0.003
    assert abs(ours.mean() - 1) < 0.01 and abs(theirs.mean() - 1) < 0.01
    y = torch.randn(8, 8)
    assert torch.equal(Dropout(p).eval()(y), y)


def test_dropout_passes_gradients_of_kept_units_only():
    torch.manual_seed(0)
    x = torch.randn(64, 32, requires_grad=True)
    out = Dropout(0.3).train()(x)
    out.sum().backward()
    kept = out != 0
    torch.testing.assert_close(x.grad[kept], torch.full_like(x.grad[kept], 256 / (256 - 77)))
    assert (x.grad[~kept] == 0).all()


def test_mini_backbone_has_distinct_activations_and_our_dropout():
    modules = list(net(sharing="mini", dropout=0.2).backbone.modules())
    relus = [m for m in modules if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) == 2
    assert not any(isinstance(m, torch.nn.Dropout) for m in modules)
    assert sum(isinstance(m, Dropout) for m in modules) == 2


def test_category_embeddings_pick_one_row_per_one_hot_block():
    """Each categorical column's one-hot block becomes its category's embedding, and the members' inputs hold
    the numbers' embeddings, the categories' and the rest, in that order (sources say whose each is)."""
    torch.manual_seed(0)
    model = net(in_features=9, embedded=[0], sharing="mini", members=2, categories=[[1, 4], [5, 7]], d_category=3)
    x = torch.zeros(2, 9)
    x[0, [0, 2, 6, 4, 7, 8]] = torch.tensor([0.5, 1, 1, 0.3, -1, 2])  # categories: 2nd of the first, 2nd of the other
    x[1, [1, 5]] = 1
    inputs = model.member_inputs(x)
    assert inputs.shape == (2, 2, 4 + 2 * 3 + 3) and model.sources == [0] * 4 + [1] * 3 + [5] * 3 + [4, 7, 8]
    weight = model.category_embeddings[0].weight
    torch.testing.assert_close(inputs[0, 0, 4:10], torch.cat([weight[1], weight[4]]))
    torch.testing.assert_close(inputs[1, 1, 4:10], torch.cat([weight[0], weight[3]]))
    torch.testing.assert_close(inputs[0, 0, 10:], torch.tensor([0.3, -1, 2]))


def test_category_embeddings_learn_and_load(tmp_path):
    model = net(in_features=9, embedded=[0], sharing="mini", members=4, groups=2, categories=[[1, 4], [5, 7]],
                d_category=3)
    x = torch.randn(4, 9)
    model(x).sum().backward()
    assert model.category_embeddings[1].weight.grad.abs().sum() > 0
    model.save(tmp_path)
    torch.testing.assert_close(model(x), TabularNet.load(tmp_path)(x))
    with pytest.raises(ConfigError, match="need sharing: mini"):
        net(in_features=9, categories=[[1, 4]], d_category=3)
