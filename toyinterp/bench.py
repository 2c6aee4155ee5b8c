"""Benchmark: our trainer against the TransformerLens 4 bridge, measured in one run.

``python -m toyinterp.bench`` (p=113, frac 0.3, d_model 128, 4 heads, d_mlp 512, full batch, the anchors'
float64 loss on both sides) prints

* ms per training step (forward + backward + AdamW) of the bridge and of our model;
* ms per epoch as the TransformerLens grokking demo runs it (a step plus a test-loss evaluation every
  epoch) on the bridge, against our ``train()`` with its defaults (test set every ``eval_every`` steps);
* the max |logit difference| between our model and its bridge;
* the FLOP floor of our step: every matrix product one of our training steps runs (recorded with the torch
  profiler, shapes and all) timed again as plain ``torch.mm`` calls on fresh tensors, without autograd; our
  step time as a multiple of it says how much is left to gain without doing fewer FLOPs;

and ends with ``speedup: X.Yx``, the per-epoch ratio. Both sides start from the same weights. The machine's
speed drifts (by a fifth or more over minutes on a shared VM), so the measurements are made in ``--rounds``
rounds, each timing every item once, one after the other; a ratio is the median of the rounds' ratios, printed
with their range.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from .models import Transformer, TransformerConfig, boot_bridge
from .params import check_int
from .store import compute_spec
from .tasks import ModularAddition
from .train import TrainConfig, cross_entropy, make_optimizer, train


def _time(fn, n: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def stepper(model, tokens: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig):
    """A function that runs one full-batch training step (forward, backward, AdamW; the loss in
    ``cfg.loss_dtype``, as ``train`` computes it) of ``model`` on ``tokens``; it updates ``model`` in place."""
    opt = make_optimizer(model, cfg)

    def step():
        loss = cross_entropy(model(tokens), labels, cfg.loss_dtype)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def step_time(model, tokens: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, n: int = 20,
              device: str | torch.device = "cpu") -> float:
    """Seconds per full-batch training step (``stepper``) of ``model`` on a copy of its weights on ``device`` (the
    one its training ran on; a GPU's queue is drained after each step): the median of ``n`` steps timed one by
    one, so that a moment of another process's load does not decide it."""
    dev = torch.device(device)
    run = stepper(copy.deepcopy(model).to(dev).train(), tokens.to(dev), labels.to(dev), cfg)

    def step():
        run()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    step(), step()  # warm-up
    return statistics.median(_time(step, 1, warmup=0) for _ in range(n))


def matmul_floor(model, tokens: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig):
    """(replay, GFLOP): ``replay()`` runs the matrix products of one training step of ``model`` as plain
    ``torch.mm`` on random tensors of the recorded shapes (``addmm``'s bias add and batched products included)."""
    from torch.profiler import profile

    step = stepper(copy.deepcopy(model).train(), tokens, labels, cfg)
    with profile(record_shapes=True) as prof:
        step()
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

    return replay, flop / 1e9


def _ratio(num: list[float], den: list[float]) -> str:
    """The median of the rounds' ratios num/den, with their range."""
    r = sorted(a / b for a, b in zip(num, den))
    return f"{statistics.median(r):.1f}x ({r[0]:.1f}-{r[-1]:.1f})"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of measurements (default 5)")
    ap.add_argument("--bridge-steps", type=int, default=5, help="bridge steps and epochs timed per round")
    ap.add_argument("--our-steps", type=int, default=100, help="our steps, and train() steps, timed per round")
    args = ap.parse_args(argv)
    for name in ("rounds", "bridge_steps", "our_steps"):
        check_int(name, getattr(args, name), low=1)

    task = ModularAddition(p=113, frac_train=0.3, data_seed=598)
    cfg = TransformerConfig.for_task(task)
    tcfg = TrainConfig(steps=args.our_steps)
    x, y = task.train_data()
    xt, yt = task.test_data()
    spec = compute_spec("cpu")  # timings compare only within one run, and only on the machine named here
    print(f"{spec['processor']} ({spec['isa']}), torch {torch.__version__}, {spec['threads']} threads; "
          f"p=113, {len(y)} train rows, "
          f"d_model {cfg.d_model}, {cfg.n_heads} heads, d_mlp {cfg.d_mlp}; loss in {tcfg.loss_dtype}; "
          f"{args.rounds} rounds")

    # --- the TL4 bridge, trained the way the demo trains a HookedTransformer (biases frozen at zero)
    bridge = boot_bridge(cfg)
    for name, param in bridge.named_parameters():
        param.requires_grad_(not name.endswith(".bias"))
    opt = make_optimizer(bridge, tcfg)

    def bridge_step():
        loss = cross_entropy(bridge(x)[:, -1], y, tcfg.loss_dtype)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def bridge_epoch():
        bridge_step()
        with torch.no_grad():
            cross_entropy(bridge(xt)[:, -1], yt, tcfg.loss_dtype).item()

    # --- ours: one step, and train() with its defaults
    our_step = stepper(Transformer.init(cfg).train(), x, y, tcfg)

    trained = []  # the model of the last round's train(), for the comparison with its bridge

    def our_epochs():
        trained[:] = [Transformer.init(cfg)]
        train(trained[0], task, tcfg, progress=False)

    floor, gflop = matmul_floor(Transformer.init(cfg), x, y, tcfg)

    t = {k: [] for k in ("bridge step", "our step", "bridge epoch", "our epoch", "floor")}
    for r in range(args.rounds):
        warm = 2 if r == 0 else 0
        t["bridge step"].append(_time(bridge_step, args.bridge_steps, warm))
        t["our step"].append(_time(our_step, args.our_steps, warm))
        t["bridge epoch"].append(_time(bridge_epoch, args.bridge_steps, warm))
        t["our epoch"].append(_time(our_epochs, 1, 0) / args.our_steps)
        t["floor"].append(_time(floor, args.our_steps // 5 + 1, warm))
    med = {k: statistics.median(v) for k, v in t.items()}

    model = trained[0]
    with torch.no_grad():
        diff = (model.to_bridge()(task.tokens)[:, -1] - model(task.tokens)).abs().max().item()

    print(f"{'':38s}{'bridge':>10s}{'ours':>10s}  ratio: median of rounds (range)")
    print(f"{'ms per training step':38s}{med['bridge step'] * 1e3:10.1f}{med['our step'] * 1e3:10.1f}  "
          f"{_ratio(t['bridge step'], t['our step'])}")
    print(f"{'ms per epoch (demo: test loss every epoch;':38s}")
    print(f"{'  ours: every ' + str(tcfg.eval_every) + ' steps)':38s}{med['bridge epoch'] * 1e3:10.1f}"
          f"{med['our epoch'] * 1e3:10.1f}  {_ratio(t['bridge epoch'], t['our epoch'])}")
    print(f"FLOP floor of our step: {gflop:.2f} GFLOP in matrix products, {med['floor'] * 1e3:.1f} ms as plain "
          f"matmuls ({gflop / med['floor']:.0f} GFLOP/s); our step is {_ratio(t['our step'], t['floor'])} the floor; "
          f"the bridge's step is {_ratio(t['bridge step'], t['floor'])} it")
    print(f"max |logit difference| ours vs bridge over all p^2 rows: {diff:.2e}")
    ratios = sorted(a / b for a, b in zip(t["bridge epoch"], t["our epoch"]))
    print(f"speedup: {statistics.median(ratios):.1f}x")


if __name__ == "__main__":
    main()
