import math

import pytest
import torch

from driftline.core.model import TabularNet

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
