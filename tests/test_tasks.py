import pytest
import torch

from toyinterp.params import ParameterError
from toyinterp.tasks import MinOfTwo, ModularAddition, seeded_split


def test_split_is_the_tl_demo_split_row_for_row():
    # The TransformerLens grokking demo: torch.manual_seed(598); randperm(p*p); first int(p*p*0.3) train.
    p, frac, data_seed = 113, 0.3, 598
    torch.manual_seed(data_seed)
    perm = torch.randperm(p * p)
    cut = int(p * p * frac)
    task = ModularAddition(p=p, frac_train=frac, data_seed=data_seed)
    assert torch.equal(task.train_idx, perm[:cut]) and torch.equal(task.test_idx, perm[cut:])
    # The demo's dataset: a-major rows [a, b, p], labels (a + b) % p.
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    assert torch.equal(task.tokens, torch.stack([a, b, torch.full_like(a, p)], 1))
    assert torch.equal(task.labels, (a + b) % p)
    x, y = task.train_data()
    assert torch.equal(x, task.tokens[perm[:cut]]) and len(y) == cut == 3830


def test_split_leaves_global_rng_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    ModularAddition(p=7, data_seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_min_of_two_rows_and_labels():
    task = MinOfTwo(max_num=10, frac_train=0.8, data_seed=4)
    assert task.tokens.shape == (100, 3) and task.d_vocab == 11 and task.d_vocab_out == 10
    assert torch.equal(task.labels, task.tokens[:, :2].min(1).values)
    assert len(task.train_idx) == 80


@pytest.mark.parametrize("kwargs, match", [
    (dict(p=100), "p must be a prime"),
    (dict(p=1), "p must be a prime"),
    (dict(p=113, frac_train=0.0), "frac_train must lie strictly between 0 and 1"),
    (dict(p=113, frac_train=1.2), "frac_train must lie strictly between 0 and 1"),
])
def test_bad_parameters_raise_one_clear_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        ModularAddition(**kwargs)


def test_min_of_two_needs_two_numbers():
    with pytest.raises(ParameterError, match="max_num must be >= 2"):
        MinOfTwo(max_num=1)


def test_empty_split_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        seeded_split(4, 0.1, 0)
