"""Benchmark: our trainer against the TransformerLens 4 bridge, measured in one run.

``python -m toyinterp.bench`` (p=113, frac 0.3, d_model 128, 4 heads, d_mlp 512, full batch) prints

* ms per training step (forward + backward + AdamW) of the bridge and of our model;
* ms per epoch as the TransformerLens grokking demo runs it (a step plus a test-loss evaluation every
  epoch) on the bridge, against our ``train()`` with its defaults (test set every ``eval_every`` steps);
* the max |logit difference| between our model and its bridge;
* the FLOP floor of our step: every matrix product one of our training steps runs (recorded with the torch
  profiler, shapes and all) timed again as plain ``torch.mm`` calls on fresh tensors, without autograd; our
  step time as a multiple of it says how much is left to gain without doing fewer FLOPs;

and ends with ``speedup: X.Yx``, the per-epoch ratio. Both sides start from the same weights.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from .models import Transformer, TransformerConfig, boot_bridge
from .tasks import ModularAddition
from .train import TrainConfig, make_optimizer, train


def _time(fn, n: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def step_time(model, tokens: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, n: int = 20) -> float:
    """Seconds per full-batch training step (forward, backward, AdamW) of ``model`` on a copy of its weights."""
    model = copy.deepcopy(model).train()
    opt = make_optimizer(model, cfg)

    def step():
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return _time(step, n)


def matmul_floor(model, tokens: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, n: int = 20):
    """(seconds, GFLOP) of the matrix products in one training step of ``model``, replayed as plain ``torch.mm``
    on random tensors of the recorded shapes (``addmm``'s bias add and batched products included)."""
    from torch.profiler import profile

    model = copy.deepcopy(model).train()
    opt = make_optimizer(model, cfg)
    with profile(record_shapes=True) as prof:
        loss = F.cross_entropy(model(tokens), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    calls = []
    for ev in prof.events():
        shapes = ev.input_shapes
        if ev.name == "aten::mm" and len(shapes) >= 2:
            (m, k), (_, n_) = shapes[0], shapes[1]
            calls.append((torch.randn(m, k), torch.randn(k, n_), None))
        elif ev.name == "aten::addmm" and len(shapes) >= 3:
            (m, k), (_, n_) = shapes[1], shapes[2]
            calls.append((torch.randn(m, k), torch.randn(k, n_), torch.randn(shapes[0] or [1])))
        elif ev.name == "aten::bmm" and len(shapes) >= 2:
            (b, m, k), (_, _, n_) = shapes[0], shapes[1]
            calls.append((torch.randn(b, m, k), torch.randn(b, k, n_), None))
    flop = sum(2 * a.numel() * b.shape[-1] for a, b, _ in calls)

    def replay():
        for a, b, bias in calls:
            torch.addmm(bias, a, b) if bias is not None else torch.matmul(a, b)

    return _time(replay, n), flop / 1e9


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bridge-steps", type=int, default=10)
    ap.add_argument("--our-steps", type=int, default=300)
    args = ap.parse_args(argv)

    task = ModularAddition(p=113, frac_train=0.3, data_seed=598)
    cfg = TransformerConfig.for_task(task)
    tcfg = TrainConfig(steps=args.our_steps)
    x, y = task.train_data()
    xt, yt = task.test_data()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; p=113, {len(y)} train rows, "
          f"d_model {cfg.d_model}, {cfg.n_heads} heads, d_mlp {cfg.d_mlp}")

    # --- the TL4 bridge, trained the way the demo trains a HookedTransformer
    bridge = boot_bridge(cfg)
    for name, param in bridge.named_parameters():
        param.requires_grad_(not name.endswith(".bias"))
    opt = make_optimizer(bridge, tcfg)

    def bridge_step():
        loss = F.cross_entropy(bridge(x)[:, -1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def bridge_epoch():
        bridge_step()
        with torch.no_grad():
            F.cross_entropy(bridge(xt)[:, -1], yt).item()

    bridge_step_s = _time(bridge_step, args.bridge_steps)
    bridge_epoch_s = _time(bridge_epoch, args.bridge_steps)

    # --- ours: one step, and train() with its defaults
    our_step_s = step_time(Transformer.init(cfg), x, y, tcfg, max(20, args.our_steps // 10))
    model = Transformer.init(cfg)
    t = time.perf_counter()
    train(model, task, tcfg, progress=False)
    our_epoch_s = (time.perf_counter() - t) / tcfg.steps

    floor_s, gflop = matmul_floor(Transformer.init(cfg), x, y, tcfg)

    bridge_of_ours = model.to_bridge()
    with torch.no_grad():
        diff = (bridge_of_ours(task.tokens)[:, -1] - model(task.tokens)).abs().max().item()

    print(f"{'':38s}{'bridge':>10s}{'ours':>10s}{'ratio':>9s}")
    print(f"{'ms per training step':38s}{bridge_step_s * 1e3:10.1f}{our_step_s * 1e3:10.1f}"
          f"{bridge_step_s / our_step_s:8.1f}x")
    print(f"{'ms per epoch (demo: test loss every epoch;':38s}")
    print(f"{'  ours: every ' + str(tcfg.eval_every) + ' steps)':38s}{bridge_epoch_s * 1e3:10.1f}"
          f"{our_epoch_s * 1e3:10.1f}{bridge_epoch_s / our_epoch_s:8.1f}x")
    print(f"FLOP floor of our step: {gflop:.2f} GFLOP in matrix products, {floor_s * 1e3:.1f} ms as plain matmuls "
          f"({gflop / floor_s:.0f} GFLOP/s); our step is {our_step_s / floor_s:.2f}x the floor")
    print(f"max |logit difference| ours vs bridge over all p^2 rows: {diff:.2e}")
    print(f"speedup: {bridge_epoch_s / our_epoch_s:.1f}x")


if __name__ == "__main__":
    main()
