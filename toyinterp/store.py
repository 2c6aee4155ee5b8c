"""A content-addressed artifact store for trained models and their checkpoint series.

``trained(task, model_cfg, train_cfg)`` returns a trained model, its ``History``
and the directory of its run. The directory's name is a hash of everything that
determines the result: the task's spec (sizes, split seed), the model config
(including its init seed), the training config, the code version (the source
of the modules that compute the training run) and where it is computed
(``compute_spec``: the device, torch's version and, on the CPU, the number of
threads). The first call trains (with a progress bar, checkpointing, resumable);
later calls load.

Every file is written with a SHA-256 checksum beside it (``x.pt`` + ``x.pt.sha256``)
and through a temporary file and an atomic rename. ``load`` verifies the checksum:
a corrupt or truncated file raises ``CorruptArtifact``; ``trained`` reports it,
deletes the file and rebuilds, never using it silently.

The location is ``$TOYINTERP_STORE``, by default ``.store/`` at the repository root.
"""
from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import shutil
import warnings
from pathlib import Path

import torch
from .params import resolve_device

ROOT_ENV = "TOYINTERP_STORE"
# Source files whose code decides every training run's result; the task and the model config add their own
# (their CODE_MODULES), so editing one model's code does not invalidate another's artifacts.
CODE_MODULES = ("train.py",)


class CorruptArtifact(RuntimeError):
    """A stored file whose checksum does not match its contents."""


def root() -> Path:
    default = Path(__file__).resolve().parents[1] / ".store"
    return Path(os.environ.get(ROOT_ENV, default))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(path: str | Path, obj) -> None:
    """torch.save ``obj`` to ``path`` atomically, with a checksum file beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    sums = path.with_name(path.name + ".sha256")
    tmp.write_text(_digest(data))
    os.replace(tmp, sums)


def load(path: str | Path, missing_ok: bool = False):
    """Load a file written by ``save``; ``CorruptArtifact`` if its checksum does not match."""
    path = Path(path)
    sums = path.with_name(path.name + ".sha256")
    if not path.exists():
        if missing_ok:
            return None
        raise FileNotFoundError(path)
    data = path.read_bytes()
    expected = sums.read_text().strip() if sums.exists() else None
    if expected != _digest(data):
        raise CorruptArtifact(f"{path}: checksum {'missing' if expected is None else 'mismatch'} "
                              f"({len(data)} bytes); the file is corrupt or truncated")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def verify(path: str | Path) -> None:
    """Raise ``CorruptArtifact`` unless ``path`` matches its checksum (without unpickling it)."""
    path = Path(path)
    sums = path.with_name(path.name + ".sha256")
    if not sums.exists() or sums.read_text().strip() != _digest(path.read_bytes()):
        raise CorruptArtifact(f"{path}: checksum missing or mismatched; the file is corrupt or truncated")


def code_fingerprint(source: str) -> str:
    """The module's syntax tree without docstrings: comments and prose edits do not invalidate the store."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def code_version(task=None, model_cfg=None) -> str:
    """A hash of the code that computes a training run, docstrings and comments left out: ``CODE_MODULES``
    plus the modules the task and the model config name in their own ``CODE_MODULES``."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    names = CODE_MODULES + tuple(getattr(task, "CODE_MODULES", ())) + tuple(getattr(model_cfg, "CODE_MODULES", ()))
    for name in dict.fromkeys(names):
        f = here / name
        if f.exists():
            h.update(name.encode() + code_fingerprint(f.read_text()).encode())
    return h.hexdigest()[:16]


def compute_spec(device: str | torch.device = "cpu") -> dict:
    """What besides the configs and the code decides a run's floats: the device and torch's version; on the CPU
    the processor (its name and the instruction set torch picks its kernels by) and the number of threads torch
    uses (it may split reductions by thread); on a GPU its name. Measured, 100 grokking steps from one seed end at
    train loss 3.1811 on one thread and 3.1841 on two on one machine of this workplace, and at 3.17946 on both on
    another (AVX512); the CI machine trained the polynomial chapter's runs to other numbers than this one. A run
    computed elsewhere is another run: the store never serves it in this one's place."""
    dev = resolve_device(device) if device == "auto" else torch.device(device)  # "auto": the device it picks
    spec = {"device": dev.type, "torch": torch.__version__}
    if dev.type == "cpu":
        spec |= {"threads": torch.get_num_threads(), "isa": torch.backends.cpu.get_cpu_capability(),
                 "processor": _processor_name()}
    elif dev.type == "cuda":
        spec["gpu"] = torch.cuda.get_device_name(dev)
    return spec


def _processor_name() -> str:
    """The CPU's model name as the kernel reports it (Linux), else what the platform module says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def key(task, model_cfg, train_cfg, device: str | torch.device = "cpu") -> str:
    spec = {"task": task.spec(), "model": model_cfg.spec(), "train": train_cfg.spec(), "code": code_version(task, model_cfg),
            "compute": compute_spec(device)}
    return _digest(json.dumps(spec, sort_keys=True, default=str).encode())[:20]


def run_dir(task, model_cfg, train_cfg, device: str | torch.device = "cpu") -> Path:
    return root() / f"{task.name}-{key(task, model_cfg, train_cfg, device)}"


def trained(task, model_cfg, train_cfg, device: str = "cpu", progress: bool = True):
    """(model, history, run_dir): load the verified artifact, or train (resuming) and store it."""
    from .train import History, train

    rdir = run_dir(task, model_cfg, train_cfg, device)
    final = rdir / "final.pt"
    try:
        art = load(final, missing_ok=True)
        if art is not None:
            for snap in rdir.glob("snap_*.pt"):
                verify(snap)
    except CorruptArtifact as err:
        warnings.warn(f"{err}; rebuilding the run", stacklevel=2)
        shutil.rmtree(rdir)
        art = None
    model = model_cfg.build()
    if art is not None:
        model.load_state_dict(art["model"])
        model.eval()
        return model.to(device), History(**art["history"]), rdir
    try:
        hist = train(model, task, train_cfg, run_dir=rdir, device=device, progress=progress)
    except CorruptArtifact as err:  # a damaged resume point: start this run over from scratch
        warnings.warn(f"{err}; discarding the partial run and training from scratch", stacklevel=2)
        shutil.rmtree(rdir)
        model = model_cfg.build()
        hist = train(model, task, train_cfg, run_dir=rdir, device=device, progress=progress)
    save(final, {"model": {k: v.cpu() for k, v in model.state_dict().items()}, "history": hist.as_dict(),
                 "spec": {"task": task.spec(), "model": model_cfg.spec(), "train": train_cfg.spec(),
                          "compute": compute_spec(device)}})
    (rdir / "resume.pt").unlink(missing_ok=True)
    (rdir / "resume.pt.sha256").unlink(missing_ok=True)
    (rdir / "spec.json").write_text(json.dumps(
        {"task": task.spec(), "model": model_cfg.spec(), "train": train_cfg.spec(), "code": code_version(task, model_cfg),
         "compute": compute_spec(device)}, indent=1, default=str))
    return model, hist, rdir
