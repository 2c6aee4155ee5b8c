"""The trainer: AdamW on full batches (or minibatches), checkpoints, resume, a progress bar.

``train(model, task, cfg, run_dir)`` trains ``model`` on ``task``'s train split and
returns a ``History`` of train/test loss and accuracy every ``cfg.eval_every``
steps. With a ``run_dir`` it also

* keeps a weights snapshot every ``cfg.checkpoint_every`` steps (``snap_XXXXXXX.pt``),
  the series the progress-measure analysis runs over;
* keeps one resume point (``resume.pt``: weights, AdamW state, minibatch RNG state,
  history) written atomically at each checkpoint. A run killed mid-way and started
  again continues from it and ends with exactly the weights an uninterrupted run
  ends with (``tests/test_train.py``).

Every file goes through ``store.save``/``store.load``, which checksum it: a corrupt
resume point is reported and the run starts over rather than resuming from garbage.
With ``batch_size=None`` (full batch) a step is one optimizer update and also an epoch, which is how the
TransformerLens grokking demo counts; with a ``batch_size`` a step is one epoch of shuffled minibatches.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from . import progress as _progress
from . import store as _store
from .params import check_int, check_positive, resolve_device


@dataclass
class TrainConfig:
    """One training run; defaults are the TransformerLens grokking demo's."""

    steps: int = 20_000  # full batch: optimizer updates (= epochs); with batch_size: epochs of shuffled minibatches
    lr: float = 1e-3
    wd: float = 1.0  # AdamW weight decay
    betas: tuple[float, float] = (0.9, 0.98)
    batch_size: int | None = None  # None: full batch
    shuffle_seed: int = 0  # minibatch order (unused for full batch)
    eval_every: int = 100  # test loss/accuracy every k steps (the demo evaluates every step)
    checkpoint_every: int = 100  # weights snapshot + resume point every k steps
    # The loss is computed on float64 logits, as every anchor does (TL grokking demo's ``loss_fn``:
    # ``logits.to(torch.float64)``; Nanda et al.'s and Chughtai et al.'s code alike). The model stays float32.
    # A float32 softmax rounds the correct class's probability to 1 near zero loss, loses the gradient there,
    # and makes the post-grokking loss spike (Prieto et al. 2025, arXiv 2501.04697).
    loss_dtype: str = "float64"
    # A principled stop: end the run ``stop_delay`` steps after the first evaluation whose test loss is at most
    # ``stop_test_loss`` (None: run all ``steps``); ``steps`` is then the cap. With ``stop_test_loss = 1`` and the
    # delay the anchor trains past that point, a run trains as long after grokking as the anchor's did, however
    # late it groks. The stopping step is checkpointed and recorded in the history.
    stop_test_loss: float | None = None
    stop_delay: int = 0

    def __post_init__(self):
        check_int("steps", self.steps, low=1)
        check_positive("lr", self.lr)
        if self.wd < 0:
            raise ValueError(f"wd must be >= 0, got {self.wd}")
        check_int("eval_every", self.eval_every, low=1)
        check_int("checkpoint_every", self.checkpoint_every, low=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        if self.loss_dtype not in ("float32", "float64"):
            raise ValueError(f"loss_dtype must be 'float32' or 'float64', got {self.loss_dtype!r}")
        if self.stop_test_loss is not None:
            check_positive("stop_test_loss", self.stop_test_loss)
        check_int("stop_delay", self.stop_delay, low=0)
        if self.stop_delay and self.stop_test_loss is None:
            raise ValueError("stop_delay counts from the first evaluation with test loss <= stop_test_loss; "
                             "set stop_test_loss too")
        self.betas = tuple(self.betas)

    def should_stop(self, hist: "History") -> bool:
        """Whether the run is over at ``hist``'s last entry: ``stop_delay`` steps after the first evaluation
        with test loss at most ``stop_test_loss``."""
        if self.stop_test_loss is None or not hist.step:
            return False
        first = next((s for s, v in zip(hist.step, hist.test_loss) if v <= self.stop_test_loss), None)
        return first is not None and hist.step[-1] >= first + self.stop_delay

    def spec(self) -> dict:
        return {"train": "AdamW", **asdict(self)}


@dataclass
class History:
    """Metrics at every evaluation step."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def append(self, **row) -> None:
        for key, value in row.items():
            getattr(self, key).append(value)

    def as_dict(self) -> dict:
        return asdict(self)

    def first_step(self, metric: str, below: float | None = None, above: float | None = None) -> int | None:
        """First evaluated step where ``metric`` < below (or > above); None if never."""
        for s, v in zip(self.step, getattr(self, metric)):
            if (below is not None and v < below) or (above is not None and v > above):
                return s
        return None


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, dtype: str = "float64",
                  reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of ``logits`` [n, classes] computed in ``dtype`` (the anchors' ``logits.to(torch.float64)``)."""
    return F.cross_entropy(logits.to(getattr(torch, dtype)), labels, reduction=reduction)


@torch.no_grad()
def evaluate(model, tokens: torch.Tensor, labels: torch.Tensor, batch: int = 65_536,
             dtype: str = "float64") -> tuple[float, float]:
    """(mean cross-entropy in ``dtype``, accuracy) of ``model`` on rows ``tokens`` [n, n_ctx]."""
    loss, correct = 0.0, 0
    for i in range(0, len(labels), batch):
        logits = model(tokens[i : i + batch])
        loss += cross_entropy(logits, labels[i : i + batch], dtype, reduction="sum").item()
        correct += (logits.argmax(-1) == labels[i : i + batch]).sum().item()
    return loss / len(labels), correct / len(labels)


@torch.no_grad()
def row_losses(model, tokens: torch.Tensor, labels: torch.Tensor, batch: int = 65_536,
               dtype: str = "float64") -> torch.Tensor:
    """The cross-entropy in ``dtype`` of every row [n]: where a mean loss sits (a few rows or all of them)."""
    return torch.cat([cross_entropy(model(tokens[i : i + batch]), labels[i : i + batch], dtype, reduction="none")
                      for i in range(0, len(labels), batch)])


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.wd, betas=cfg.betas)


def snapshot_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / f"snap_{step:07d}.pt"


def train(model, task, cfg: TrainConfig, run_dir: str | Path | None = None, device: str = "cpu",
          progress: bool = True, stop_at: int | None = None) -> History:
    """Train ``model`` in place on ``task``; see the module docstring.

    ``stop_at`` ends the run early at that step (after its checkpoint), as a kill
    would; calling ``train`` again with the same ``run_dir`` resumes it.
    """
    dev = resolve_device(device)
    model.to(dev)
    x_train, y_train = (t.to(dev) for t in task.train_data())
    x_test, y_test = (t.to(dev) for t in task.test_data())
    opt = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.shuffle_seed)
    hist, start = History(), 0
    run_dir = Path(run_dir) if run_dir is not None else None

    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        state = _store.load(run_dir / "resume.pt", missing_ok=True)
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            hist, start = History(**state["history"]), state["step"]

    def checkpoint(step: int) -> None:
        if run_dir is None:
            return
        weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        _store.save(snapshot_path(run_dir, step), weights)
        _store.save(run_dir / "resume.pt", {"model": weights, "optimizer": opt.state_dict(), "step": step,
                                            "generator": gen.get_state(), "history": hist.as_dict()})

    n = len(y_train)
    bar = _progress.bar(total=cfg.steps, initial=start, disable=not progress,
                        desc=f"train {type(model).__name__}", unit="step", leave=True)
    if not hist.step:  # a fresh run (a resumed one has its step-0 evaluation already)
        test_loss, test_acc = evaluate(model, x_test, y_test, dtype=cfg.loss_dtype)
        train_loss, train_acc = evaluate(model, x_train, y_train, dtype=cfg.loss_dtype)
        hist.append(step=0, train_loss=train_loss, train_acc=train_acc, test_loss=test_loss, test_acc=test_acc)
        checkpoint(0)
    model.train()
    for step in range(start + 1, cfg.steps + 1):
        if cfg.should_stop(hist):  # (a resumed run that had already stopped)
            break
        if cfg.batch_size is None or cfg.batch_size >= n:
            batches = [None]
        else:
            perm = torch.randperm(n, generator=gen).to(dev)
            batches = perm.split(cfg.batch_size)
        for idx in batches:
            xb, yb = (x_train, y_train) if idx is None else (x_train[idx], y_train[idx])
            logits = model(xb)
            loss = cross_entropy(logits, yb, cfg.loss_dtype)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            model.eval()
            train_loss, train_acc = evaluate(model, x_train, y_train, dtype=cfg.loss_dtype)
            test_loss, test_acc = evaluate(model, x_test, y_test, dtype=cfg.loss_dtype)
            model.train()
            hist.append(step=step, train_loss=train_loss, train_acc=train_acc, test_loss=test_loss,
                        test_acc=test_acc)
            bar.set_postfix(train_loss=f"{train_loss:.2e}", test_loss=f"{test_loss:.2e}", test_acc=f"{test_acc:.3f}",
                            refresh=False)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or cfg.should_stop(hist):
            checkpoint(step)
        bar.update(1)
        if cfg.should_stop(hist):
            break
        if stop_at is not None and step >= stop_at:
            break
    bar.close()
    model.eval()
    return hist


def load_snapshots(run_dir: str | Path) -> dict[int, dict[str, torch.Tensor]]:
    """All weight snapshots of a run, by step (each checksum-verified)."""
    out = {}
    for path in sorted(Path(run_dir).glob("snap_*.pt")):
        out[int(path.stem.split("_")[1])] = _store.load(path)
    return out

