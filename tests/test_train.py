import dataclasses
import warnings

import pytest
import torch

from toyinterp import store
from toyinterp.params import resolve_device
from toyinterp.models import Transformer, TransformerConfig
from toyinterp.tasks import ModularAddition
from toyinterp.train import TrainConfig, evaluate, load_snapshots, row_losses, train

TASK = ModularAddition(p=17, frac_train=0.5, data_seed=1)
MODEL = TransformerConfig.for_task(TASK, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=3)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("batch_size", [None, 32])
def test_same_seed_same_weights(batch_size):
    cfg = TrainConfig(steps=40, eval_every=10, batch_size=batch_size)
    runs = []
    for _ in range(2):
        model = Transformer.init(MODEL)
        hist = train(model, TASK, cfg, progress=False)
        runs.append((_weights(model), hist))
    _assert_identical(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


@pytest.mark.parametrize("batch_size", [None, 32])
def test_killed_run_resumes_to_the_same_weights(tmp_path, batch_size):
    cfg = TrainConfig(steps=60, eval_every=10, checkpoint_every=20, batch_size=batch_size)
    straight = Transformer.init(MODEL)
    hist_straight = train(straight, TASK, cfg, progress=False)

    killed = Transformer.init(MODEL)
    train(killed, TASK, cfg, run_dir=tmp_path, progress=False, stop_at=30)  # dies after step 30
    resumed = Transformer.init(MODEL)  # a new process: fresh weights, everything else from disk
    hist_resumed = train(resumed, TASK, cfg, run_dir=tmp_path, progress=False)
    _assert_identical(_weights(straight), _weights(resumed))
    assert hist_resumed == hist_straight
    assert sorted(load_snapshots(tmp_path)) == [0, 20, 40, 60]


def test_history_records_memorization():
    model = Transformer.init(MODEL)
    hist = train(model, TASK, TrainConfig(steps=600, eval_every=100, lr=3e-3), progress=False)
    assert hist.step == [0, 100, 200, 300, 400, 500, 600]
    assert hist.train_loss[-1] < hist.train_loss[0] / 10
    memorized = hist.first_step("train_acc", above=0.99)
    assert memorized is not None and hist.test_acc[hist.step.index(memorized)] < 0.5


def test_trained_is_cached_and_rebuilds_a_corrupt_artifact(monkeypatch):
    cfg = TrainConfig(steps=30, eval_every=10, checkpoint_every=10)
    model, hist, rdir = store.trained(TASK, MODEL, cfg, progress=False)
    reference = _weights(model)

    calls = []
    import toyinterp.train as train_mod
    real_train = train_mod.train
    monkeypatch.setattr(train_mod, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    again, _, _ = store.trained(TASK, MODEL, cfg, progress=False)
    assert calls == [] and all(torch.equal(reference[k], again.state_dict()[k]) for k in reference)

    final = rdir / "final.pt"
    final.write_bytes(final.read_bytes()[:-100])  # truncated
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        rebuilt, _, _ = store.trained(TASK, MODEL, cfg, progress=False)
    assert calls == [1]
    _assert_identical(reference, _weights(rebuilt))

    snap = rdir / "snap_0000010.pt"
    data = bytearray(snap.read_bytes())
    data[200] ^= 0xFF  # one flipped byte in a snapshot
    snap.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="corrupt"):
        store.trained(TASK, MODEL, cfg, progress=False)
    assert calls == [1, 1]
    store.verify(snap)


def test_corrupt_resume_point_restarts_the_run(tmp_path, monkeypatch):
    cfg = TrainConfig(steps=40, eval_every=10, checkpoint_every=10)
    rdir = store.run_dir(TASK, MODEL, cfg)
    train(Transformer.init(MODEL), TASK, cfg, run_dir=rdir, progress=False, stop_at=20)
    resume = rdir / "resume.pt"
    resume.write_bytes(b"garbage" + resume.read_bytes()[7:])
    with pytest.warns(UserWarning, match="training from scratch"):
        model, hist, _ = store.trained(TASK, MODEL, cfg, progress=False)
    straight = Transformer.init(MODEL)
    train(straight, TASK, cfg, progress=False)
    _assert_identical(_weights(straight), _weights(model))


def test_key_changes_with_anything_that_determines_the_run():
    base = store.key(TASK, MODEL, TrainConfig(steps=10))
    assert store.key(TASK, MODEL, TrainConfig(steps=10)) == base
    assert store.key(TASK, MODEL, TrainConfig(steps=11)) != base
    assert store.key(ModularAddition(p=17, frac_train=0.5, data_seed=2), MODEL, TrainConfig(steps=10)) != base
    other = TransformerConfig.for_task(TASK, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=4)
    assert store.key(TASK, other, TrainConfig(steps=10)) != base
    assert store.key(TASK, MODEL, TrainConfig(steps=10), device="meta") != base


def test_key_names_the_processor_and_thread_count_the_run_is_computed_on():
    """A run on another processor or thread count may be another computation (measured on one machine here: 100
    grokking steps end at 3.1811 on one thread, 3.1841 on two; on another, 3.17946 on both): the store must not
    serve one for the other. Whether the floats differ depends on the machine, so this tests the key, not them."""
    threads = torch.get_num_threads()
    keys = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            keys[n] = store.key(TASK, MODEL, TrainConfig(steps=10))
            assert store.compute_spec()["threads"] == n
    finally:
        torch.set_num_threads(threads)
    assert keys[1] != keys[2]
    spec = store.compute_spec()
    assert spec["isa"] == torch.backends.cpu.get_cpu_capability() and spec["processor"]
    assert store.compute_spec("meta").keys() == {"device", "torch"}  # no CPU fields for another device


def test_auto_device_is_keyed_as_the_device_it_picks():
    """Every chapter's parameters offer ``device="auto"``, and the chapters hand it to the store as given: it must
    name the run the device it resolves to (here the CPU), not fail in ``torch.device("auto")``."""
    assert store.compute_spec("auto") == store.compute_spec(resolve_device("auto"))
    assert store.key(TASK, MODEL, TrainConfig(steps=10), device="auto") == \
        store.key(TASK, MODEL, TrainConfig(steps=10), device=resolve_device("auto"))


def test_code_version_ignores_docstrings_and_comments_but_not_code():
    fp = store.code_fingerprint
    base = fp('def f(x):\n    """Doc."""\n    return x + 1  # one\n')
    assert fp('def f(x):\n    """Other words."""\n    # a comment\n    return x + 1\n') == base
    assert fp('def f(x):\n    """Doc."""\n    return x + 2\n') != base


def test_same_seed_gives_bit_identical_weights_for_every_model_kind():
    from toyinterp.mlp import MLPConfig
    from toyinterp.tasks import GroupComposition

    group_task, add_task = GroupComposition(group="D7", frac_train=0.5), ModularAddition(p=23)
    configs = [(group_task, MLPConfig.for_task(group_task, d_mlp=32, d_embed=16, seed=1)),
               (add_task, MLPConfig.for_task(add_task, d_mlp=32, seed=1)),
               (add_task, TransformerConfig.for_task(add_task, d_model=32, n_heads=2, d_head=16, d_mlp=64,
                                                     quant="ternary", final_norm=True, seed=0))]
    for task, cfg in configs:
        runs = []
        for _ in range(2):
            model = cfg.build()
            train(model, task, TrainConfig(steps=60, eval_every=30), progress=False)
            runs.append(model.state_dict())
        for key in runs[0]:
            assert torch.equal(runs[0][key], runs[1][key]), (type(cfg).__name__, key)


def test_the_loss_is_computed_in_float64_as_the_anchors_do():
    from toyinterp.train import cross_entropy

    logits = torch.zeros(1, 113)
    logits[0, 0] = 20.0  # a confident, correct answer: the true loss is ~112 e^-20 = 2.3e-7
    labels = torch.zeros(1, dtype=torch.long)
    exact = 112 * torch.exp(torch.tensor(-20.0, dtype=torch.float64))
    assert float(cross_entropy(logits, labels)) == pytest.approx(float(exact), rel=1e-6)
    assert abs(float(cross_entropy(logits, labels, "float32")) - float(exact)) > 0.3 * float(exact)  # float32 rounds
    logits.requires_grad_(True)
    cross_entropy(logits, labels).backward()
    assert logits.grad.dtype == torch.float32 and logits.grad[0, 0] < 0  # the gradient reaches the float32 model
    with pytest.raises(ValueError):
        TrainConfig(loss_dtype="float16")


def test_stop_test_loss_ends_the_run_at_the_first_evaluation_below_it(tmp_path):
    task = ModularAddition(p=17, frac_train=0.8, data_seed=1)  # generalizes within a few hundred steps
    model_cfg = TransformerConfig.for_task(task, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=3)
    free = train(Transformer.init(model_cfg), task, TrainConfig(steps=600, eval_every=50, lr=1e-2), progress=False)
    threshold = 1.0  # test loss 2.9 at step 0, first below 1.0 part-way through the free run
    first = free.step[next(i for i, v in enumerate(free.test_loss) if v <= threshold)]
    cfg = TrainConfig(steps=600, eval_every=50, checkpoint_every=200, lr=1e-2, stop_test_loss=threshold)
    stopped = Transformer.init(model_cfg)
    hist = train(stopped, task, cfg, run_dir=tmp_path / "a", progress=False)
    assert 0 < first < 600 and hist.step[-1] == first and hist.test_loss[-1] <= threshold
    assert hist.test_loss == free.test_loss[: len(hist.step)]
    assert max(load_snapshots(tmp_path / "a")) == first  # the stopping step is checkpointed
    # killed before the stop, resumed: the same end; started again after the stop: no further steps
    killed = Transformer.init(model_cfg)
    train(killed, task, cfg, run_dir=tmp_path / "b", progress=False, stop_at=first - 50)
    resumed = Transformer.init(model_cfg)
    assert train(resumed, task, cfg, run_dir=tmp_path / "b", progress=False) == hist
    _assert_identical(_weights(stopped), _weights(resumed))
    again = Transformer.init(model_cfg)
    assert train(again, task, cfg, run_dir=tmp_path / "b", progress=False) == hist
    _assert_identical(_weights(stopped), _weights(again))
    # with a delay: the run goes on stop_delay steps past that evaluation, on the free run's path
    late = train(Transformer.init(model_cfg), task, dataclasses.replace(cfg, stop_delay=150), progress=False)
    assert late.step[-1] == first + 150 and late.test_loss == free.test_loss[: len(late.step)]
    with pytest.raises(ValueError, match="stop_test_loss"):
        TrainConfig(stop_test_loss=0.0)
    with pytest.raises(ValueError, match="stop_test_loss"):
        TrainConfig(stop_delay=100)  # a delay counts from a threshold
    with pytest.raises(ValueError, match="stop_delay"):
        TrainConfig(stop_test_loss=1.0, stop_delay=-1)


def test_row_losses_are_the_rows_of_the_evaluated_mean():
    model = Transformer.init(MODEL)
    train(model, TASK, TrainConfig(steps=30, eval_every=30), progress=False)
    tokens, labels = TASK.test_data()
    rows = row_losses(model, tokens, labels)
    assert rows.shape == labels.shape and rows.dtype == torch.float64
    # batching changes no row beyond float32 rounding (some CPUs pick other matmul kernels for other batch sizes)
    torch.testing.assert_close(rows, row_losses(model, tokens, labels, batch=7), rtol=1e-5, atol=1e-7)
    mean, _ = evaluate(model, tokens, labels)
    assert abs(rows.mean().item() - mean) < 1e-12 * max(1.0, mean)
    assert rows.min() >= 0 and rows.std() > 0  # rows differ: a per-row measure, not a broadcast mean
