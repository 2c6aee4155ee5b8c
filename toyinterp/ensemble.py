"""Several one-hidden-layer MLPs trained at once: the extra seeds of a chapter, batched.

A chapter that checks its claims on several seeds trains the same recipe from several initialization seeds and
splits. ``trained_mlps(runs)`` trains them together: the K models' weights are stacked into one tensor per
weight ([K, ...]), each step gathers every model's minibatch, runs one batched forward (``bmm``) and one
backward of the sum of the K mean losses, and one AdamW steps the stacked weights. AdamW is elementwise, and the
gradient of the sum with respect to model k's weights is the gradient of model k's own loss, so each model follows
the same recipe as ``toyinterp.train.train``: the same initialization (``MLPConfig.build``), the same minibatch
order (a generator seeded with its own ``shuffle_seed``, one ``randperm`` an epoch), the float64 loss
(``train.cross_entropy``), the same AdamW, the same evaluations. Only the order of float operations may differ
(``tests/test_ensemble.py`` checks the weights against ``train.train`` after a few epochs). What it saves is the
per-step overhead of small minibatches (Bussmann's MLP: 80 steps of 128 rows an epoch): measured on one CPU
thread, K = 3 models cost about 1.9 times one model's time, not 3 times.

Results are stored like ``store.trained``'s (checksummed ``final.pt`` with the history), under their own keys
(``<task>-<key>-batched`` in ``store.root()``): the key hashes the task, model and training specs, the code that
computes the run (``store.code_version`` and this module) — never which runs were trained together. No snapshots
or resume points are kept: a run is either finished and stored, or trained again.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from . import progress as _progress
from . import store
from .mlp import MLPConfig
from .params import ParameterError, resolve_device
from .train import History, TrainConfig, cross_entropy, evaluate


def _fingerprint() -> str:
    return store.code_fingerprint(Path(__file__).read_text())


def run_dir(task, model_cfg: MLPConfig, train_cfg: TrainConfig, device: str | torch.device = "cpu") -> Path:
    """Where the batched run of (task, model_cfg, train_cfg) on ``device`` is stored."""
    spec = {"task": task.spec(), "model": model_cfg.spec(), "train": train_cfg.spec(),
            "code": store.code_version(task, model_cfg), "ensemble": _fingerprint(), "compute": store.compute_spec(device)}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return store.root() / f"{task.name}-{key}-batched"


def _check(runs) -> None:
    if not runs:
        raise ParameterError("trained_mlps needs at least one run")
    tasks, cfgs, tcfgs = zip(*runs)
    for c in cfgs:
        if not isinstance(c, MLPConfig):
            raise ParameterError(f"trained_mlps trains MLPs (MLPConfig), got {type(c).__name__}")
    shape = {(c.d_vocab, c.d_vocab_out, c.d_mlp, c.d_embed) for c in cfgs}
    if len(shape) > 1:
        raise ParameterError(f"the batched models must share their shape, got {sorted(shape, key=str)}")
    rest = {json.dumps({k: v for k, v in t.spec().items() if k != "shuffle_seed"}, sort_keys=True, default=str)
            for t in tcfgs}
    if len(rest) > 1:
        raise ParameterError("the batched runs must share their training config (all but shuffle_seed)")
    if tcfgs[0].stop_test_loss is not None:
        raise ParameterError("trained_mlps has no stop_test_loss; train such runs with store.trained")
    sizes = {len(t.train_idx) for t in tasks}
    if len(sizes) > 1:
        raise ParameterError(f"the batched runs must have train splits of one size, got {sorted(sizes)}")


def forward(W: dict, tokens: torch.Tensor) -> torch.Tensor:
    """K stacked MLPs (``W``: name -> [K, ...], ``MLP``'s weight names) on their own rows ``tokens`` [K, batch, >= 2]
    -> logits [K, batch, d_vocab_out]. Model k computes ``MLP.forward`` on ``tokens[k]``."""
    K, B = tokens.shape[:2]
    if "W_E_a" in W:
        T_a, T_b = torch.bmm(W["W_E_a"], W["W_in_a"]), torch.bmm(W["W_E_b"], W["W_in_b"])  # [K, d_vocab, d_mlp]
    else:
        T_a, T_b = W["W_in_a"], W["W_in_b"]
    V = T_a.shape[1]
    off = (torch.arange(K, device=tokens.device) * V)[:, None]  # row k*V + a of the flattened tables
    pre = (T_a.reshape(K * V, -1).index_select(0, (tokens[..., 0] + off).reshape(-1))
           + T_b.reshape(K * V, -1).index_select(0, (tokens[..., 1] + off).reshape(-1)))  # [K*B, d_mlp]
    return torch.bmm(F.relu(pre).view(K, B, -1), W["W_out"])  # [K, B, d_vocab_out]


def _train(runs, device, progress: bool):
    """Train the runs together; a list of (model, History)."""
    dev = resolve_device(device)
    tasks, cfgs, tcfgs = zip(*runs)
    K, cfg = len(runs), tcfgs[0]
    models = [c.build() for c in cfgs]
    names = [n for n, _ in models[0].named_parameters()]
    W = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).to(dev).requires_grad_(True)
         for n in names}
    opt = torch.optim.AdamW(list(W.values()), lr=cfg.lr, weight_decay=cfg.wd, betas=cfg.betas)
    x_train = torch.stack([t.train_data()[0] for t in tasks]).to(dev)  # [K, n, n_ctx]
    y_train = torch.stack([t.train_data()[1] for t in tasks]).to(dev)  # [K, n]
    gens = [torch.Generator().manual_seed(t.shuffle_seed) for t in tcfgs]
    n = y_train.shape[1]
    hists = [History() for _ in runs]

    def evaluation(step):
        with torch.no_grad():
            for k, (task, model) in enumerate(zip(tasks, models)):
                for name, w in W.items():
                    getattr(model, name).copy_(w[k])
                tr = evaluate(model, *(t.to(dev) for t in task.train_data()), dtype=cfg.loss_dtype)
                te = evaluate(model, *(t.to(dev) for t in task.test_data()), dtype=cfg.loss_dtype)
                hists[k].append(step=step, train_loss=tr[0], train_acc=tr[1], test_loss=te[0], test_acc=te[1])

    for m in models:
        m.to(dev)
    evaluation(0)
    bar = _progress.bar(total=cfg.steps, disable=not progress, desc=f"train {K} MLPs at once", unit="step",
                        leave=True)
    rows = torch.arange(K, device=dev)[:, None]
    for step in range(1, cfg.steps + 1):
        if cfg.batch_size is None or cfg.batch_size >= n:
            batches = [None]
        else:
            perm = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)  # [K, n]
            batches = perm.split(cfg.batch_size, dim=1)
        for idx in batches:
            xb, yb = (x_train, y_train) if idx is None else (x_train[rows, idx], y_train[rows, idx])
            logits = forward(W, xb)  # [K, B, d_vocab_out]
            B = yb.shape[1]
            # the sum over models of each model's mean loss: model k's gradient is its own loss's
            loss = cross_entropy(logits.reshape(K * B, -1), yb.reshape(-1), cfg.loss_dtype, reduction="none")
            loss = loss.view(K, B).mean(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluation(step)
            bar.set_postfix(test_acc=",".join(f"{h.test_acc[-1]:.3f}" for h in hists), refresh=False)
        bar.update(1)
    bar.close()
    return [(m.eval(), h) for m, h in zip(models, hists)]


def trained_mlps(runs, device: str = "cpu", progress: bool = True):
    """``runs``: a list of (task, MLPConfig, TrainConfig) -> a list of (model, History, run_dir), as
    ``store.trained`` returns for each. Stored runs are loaded; the others are trained together (one batch) and
    stored. The runs must share the model's shape and the training config but for ``shuffle_seed``."""
    runs = list(runs)
    _check(runs)
    dirs = [run_dir(*r, resolve_device(device)) for r in runs]
    out: list = [None] * len(runs)
    todo = []
    for i, (r, d) in enumerate(zip(runs, dirs)):
        try:
            art = store.load(d / "final.pt", missing_ok=True)
        except store.CorruptArtifact as err:
            import warnings
            warnings.warn(f"{err}; training the run again", stacklevel=2)
            art = None
        if art is None:
            todo.append(i)
            continue
        model = r[1].build()
        model.load_state_dict(art["model"])
        out[i] = (model.eval().to(device), History(**art["history"]), d)
    if todo:
        for i, (model, hist) in zip(todo, _train([runs[i] for i in todo], device, progress)):
            task, model_cfg, train_cfg = runs[i]
            spec = {"task": task.spec(), "model": model_cfg.spec(), "train": train_cfg.spec(),
                    "code": store.code_version(task, model_cfg), "trainer": "toyinterp.ensemble",
                    "compute": store.compute_spec(resolve_device(device))}
            store.save(dirs[i] / "final.pt", {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                                              "history": hist.as_dict(), "spec": spec})
            (dirs[i] / "spec.json").write_text(json.dumps(spec, indent=1, default=str))
            out[i] = (model, hist, dirs[i])
    return out
