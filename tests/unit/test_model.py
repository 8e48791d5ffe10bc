import math

import torch

from driftline.model import TabularMLP


def test_forward_is_member_mean_plus_offset():
    torch.manual_seed(0)
    model = TabularMLP(5, [8], 0.0, members=3, logit_offset=TabularMLP.offset_for(4.0)).eval()
    x = torch.randn(7, 5)
    expected = model.member_logits(x).mean(dim=1, keepdim=True) - math.log(4.0)
    torch.testing.assert_close(model(x), expected)


def test_save_and_load_give_identical_outputs(tmp_path):
    model = TabularMLP(6, [16, 8], 0.1, members=2, logit_offset=-0.5).eval()
    model.save(tmp_path)
    loaded = TabularMLP.load(tmp_path)
    x = torch.randn(4, 6)
    torch.testing.assert_close(model(x), loaded(x))
    assert (tmp_path / "model.safetensors").is_file()


def test_activations_are_distinct_modules():
    model = TabularMLP(4, [8, 8], 0.0, members=2)
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) == 4
