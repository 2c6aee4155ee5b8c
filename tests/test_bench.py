"""The benchmark runs end to end (tiny sizes: the numbers themselves are not tested) and measures what it says."""
import re

import pytest
import torch

from toyinterp import bench
from toyinterp.models import Transformer, TransformerConfig
from toyinterp.params import ParameterError
from toyinterp.store import compute_spec
from toyinterp.tasks import ModularAddition
from toyinterp.train import TrainConfig, cross_entropy, make_optimizer


def test_bench_prints_ratios_with_their_range(capsys):
    bench.main(["--rounds", "2", "--bridge-steps", "1", "--our-steps", "2"])
    out = capsys.readouterr().out
    assert "2 rounds" in out and "loss in float64" in out
    assert out.startswith(f"{compute_spec()['processor']} (")  # the machine the ratios were measured on
    assert re.search(r"ms per training step\s+[\d.]+\s+[\d.]+\s+[\d.]+x \([\d.]+-[\d.]+\)", out)
    diff = float(re.search(r"max \|logit difference\| .*: (\S+)", out).group(1))
    assert diff < 1e-4
    assert re.search(r"^speedup: [\d.]+x$", out, re.M)


def test_bad_rounds_is_one_clear_error():
    with pytest.raises(ParameterError, match="rounds"):
        bench.main(["--rounds", "0"])


def test_stepper_is_the_training_step():
    """One ``stepper`` step equals one step written out with train's float64 loss and optimizer, to the bit."""
    task = ModularAddition(p=13, frac_train=0.5, data_seed=0)
    cfg = TransformerConfig.for_task(task, d_model=16, n_heads=2, d_head=8, d_mlp=32)
    tcfg = TrainConfig(steps=1)
    x, y = task.train_data()
    a, b = Transformer.init(cfg), Transformer.init(cfg)
    bench.stepper(a, x, y, tcfg)()
    opt = make_optimizer(b, tcfg)
    cross_entropy(b(x), y, tcfg.loss_dtype).backward()
    opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
