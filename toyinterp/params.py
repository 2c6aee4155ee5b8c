"""Validation of chapter parameters: one clear error before any work starts.

Every chapter's ``parameters`` cell is followed by a call into this module, so a
bad value (a non-prime ``p``, a fraction outside (0, 1), ``device="cuda"`` on a
machine without a GPU) stops the run at once with a message that names the
parameter, instead of failing an hour later deep inside training.
"""
from __future__ import annotations

import math
import os

import torch


class ParameterError(ValueError):
    """A chapter or library parameter has a value that cannot work."""


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def check_prime(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not is_prime(value):
        raise ParameterError(f"{name} must be a prime number, got {value!r}")
    return value


def check_int(name: str, value: int, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ParameterError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ParameterError(f"{name} must be <= {high}, got {value}")
    return value


def check_fraction(name: str, value: float) -> float:
    """A fraction strictly between 0 and 1 (a train split, a replaced share, ...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ParameterError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return float(value)


def check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ParameterError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"auto"`` -> a torch device; ``"cuda"`` without a GPU is an error."""
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for, but torch sees no CUDA GPU on this machine; "
                             "use device='cpu' or device='auto'")
    return torch.device(device)


def memory_bytes() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(what: str, n_bytes: int, share: float = 0.5) -> int:
    """Refuse work whose tensors would need more than ``share`` of the machine's memory."""
    limit = int(share * memory_bytes())
    if n_bytes > limit:
        raise ParameterError(f"{what} needs about {n_bytes / 2**30:.1f} GiB, more than {share:.0%} of this machine's "
                             f"{memory_bytes() / 2**30:.1f} GiB; use a smaller size or minibatches (batch_size)")
    return n_bytes
