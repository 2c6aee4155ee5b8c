import pytest
import torch

from toyinterp import ensemble, store
from toyinterp.mlp import MLPConfig
from toyinterp.params import ParameterError
from toyinterp.tasks import GroupComposition, ModularAddition
from toyinterp.train import TrainConfig, train


def _runs(kind):
    if kind == "one-hot, minibatches":  # Bussmann's recipe, small: each run its own split and minibatch order
        tasks = [ModularAddition(p=23, frac_train=0.8, data_seed=d) for d in (0, 0, 1)]
        return [(t, MLPConfig.for_task(t, d_mlp=16, seed=s),
                 TrainConfig(steps=4, lr=3e-3, wd=0.5, batch_size=64, shuffle_seed=s, eval_every=2))
                for t, s in zip(tasks, (0, 1, 2))]
    tasks = [GroupComposition(group="D7", frac_train=0.5, data_seed=d) for d in (0, 1)]  # Chughtai et al.'s MLP
    return [(t, MLPConfig.for_task(t, d_mlp=16, d_embed=8, seed=s), TrainConfig(steps=6, eval_every=3))
            for t, s in zip(tasks, (1, 2))]


@pytest.mark.parametrize("kind", ["one-hot, minibatches", "embedded, full batch"])
def test_batched_runs_follow_the_trainer(kind):
    runs = _runs(kind)
    out = ensemble.trained_mlps(runs, progress=False)
    for (task, model_cfg, train_cfg), (model, hist, rdir) in zip(runs, out):
        ref = model_cfg.build()
        ref_hist = train(ref, task, train_cfg, progress=False)
        for k, v in ref.state_dict().items():
            torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-5, atol=1e-6)
        assert hist.step == ref_hist.step
        torch.testing.assert_close(torch.tensor(hist.test_loss), torch.tensor(ref_hist.test_loss), rtol=1e-5,
                                   atol=1e-6)
        assert rdir.name.endswith("-batched") and rdir.parent == store.root()


def test_stored_runs_are_loaded_and_only_missing_ones_trained(monkeypatch):
    runs = _runs("one-hot, minibatches")
    first = ensemble.trained_mlps(runs[:2], progress=False)
    trained = []
    real = ensemble._train
    monkeypatch.setattr(ensemble, "_train", lambda r, *a: trained.append(len(r)) or real(r, *a))
    again = ensemble.trained_mlps(runs, progress=False)
    assert trained == [1]  # the third run only
    for (m1, h1, d1), (m2, h2, d2) in zip(first, again):
        assert d1 == d2 and h1 == h2 and torch.equal(m1.W_out, m2.W_out)


def test_runs_that_cannot_be_batched_are_refused():
    runs = _runs("one-hot, minibatches")
    t, m, c = runs[0]
    with pytest.raises(ParameterError, match="share their shape"):
        ensemble.trained_mlps([runs[0], (t, MLPConfig.for_task(t, d_mlp=8, seed=5), c)], progress=False)
    with pytest.raises(ParameterError, match="training config"):
        ensemble.trained_mlps([runs[0], (t, MLPConfig.for_task(t, d_mlp=16, seed=5),
                                         TrainConfig(steps=5, batch_size=64))], progress=False)
    small = ModularAddition(p=23, frac_train=0.5, data_seed=0)
    with pytest.raises(ParameterError, match="one size"):
        ensemble.trained_mlps([runs[0], (small, MLPConfig.for_task(small, d_mlp=16, seed=5), c)], progress=False)
