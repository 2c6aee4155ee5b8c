"""Fourier analysis over Z_p: bases, key frequencies, neuron clusters, fractions of variance explained.

The 1-D basis (Nanda et al. 2023, §4) has rows ``1/sqrt(p)``, then ``cos(w_k x)`` and ``sin(w_k x)`` for
``w_k = 2 pi k / p``, ``k = 1 .. (p-1)/2``, each scaled to unit norm: an orthonormal basis of functions
on ``{0, .., p-1}``. Row ``2k-1`` is ``cos k`` and row ``2k`` is ``sin k``. Functions of a pair (a, b) live in
the 2-D basis, the outer products of two 1-D rows.
"""
from __future__ import annotations

import math

import torch

from .params import check_prime


def fourier_basis(p: int) -> tuple[torch.Tensor, list[str]]:
    """(B [p, p] with orthonormal rows, names ``["const", "cos 1", "sin 1", ...]``)."""
    check_prime("p", p)
    x = torch.arange(p, dtype=torch.float64)
    rows, names = [torch.ones(p, dtype=torch.float64)], ["const"]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
        names += [f"cos {k}", f"sin {k}"]
    B = torch.stack(rows)
    return (B / B.norm(dim=1, keepdim=True)).float(), names


def n_freqs(p: int) -> int:
    return p // 2


def freq_rows(k: int) -> list[int]:
    """Basis rows of frequency ``k`` (1-based): [cos k, sin k]."""
    return [2 * k - 1, 2 * k]


def to_fourier(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``x`` with axis ``dim`` (length p, a function of a residue) expressed in the Fourier basis."""
    B, _ = fourier_basis(x.shape[dim])
    return torch.movedim(torch.tensordot(B.to(x), torch.movedim(x, dim, 0), dims=1), 0, dim)


def to_fourier_2d(x: torch.Tensor) -> torch.Tensor:
    """x [p, p, ...] (a function of (a, b)) -> coefficients [p, p, ...] in the 2-D basis."""
    return to_fourier(to_fourier(x, 0), 1)


def freq_norms(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Norm of each frequency's (cos, sin) pair along ``dim``: [p // 2] (the constant term is left out)."""
    f = torch.movedim(to_fourier(x, dim), dim, 0)
    sq = f.pow(2).reshape(f.shape[0], -1).sum(1)
    return (sq[1::2] + sq[2::2]).sqrt()


def key_frequencies(norms: torch.Tensor, frac_of_max: float) -> list[int]:
    """Frequencies (1-based) whose norm is at least ``frac_of_max`` times the largest one."""
    return [int(k) + 1 for k in torch.nonzero(norms >= frac_of_max * norms.max()).flatten()]


def neuron_freq_fve(acts: torch.Tensor) -> torch.Tensor:
    """Fraction of each neuron's variance over (a, b) explained by each single frequency.

    acts [p, p, n] (a neuron's activation for every pair) -> fve [n, p // 2]. Frequency k explains the 2-D
    components whose two indices are each ``const``, ``cos k`` or ``sin k`` (but not both ``const``); the
    variance is everything but the (const, const) term.
    """
    p = acts.shape[0]
    F2 = to_fourier_2d(acts.float()).pow(2)  # [p, p, n]
    total = F2.sum((0, 1)) - F2[0, 0]
    out = []
    for k in range(1, n_freqs(p) + 1):
        idx = [0, *freq_rows(k)]
        out.append(F2[idx][:, idx].sum((0, 1)) - F2[0, 0])
    return (torch.stack(out, 1) / total[:, None].clamp_min(1e-12))


def sum_directions(p: int, freqs) -> torch.Tensor:
    """Orthonormal functions of (a, b): ``cos(w_k (a+b))`` and ``sin(w_k (a+b))`` for each k -> [2K, p*p]."""
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)
    b = torch.arange(p, dtype=torch.float64).repeat(p)
    dirs = []
    for k in freqs:
        w = 2 * math.pi * k / p
        dirs += [torch.cos(w * (a + b)), torch.sin(w * (a + b))]
    D = torch.stack(dirs)
    return (D / D.norm(dim=1, keepdim=True)).float()


def cos_logit_fve(logits: torch.Tensor, p: int, freqs) -> tuple[float, torch.Tensor]:
    """How well ``logits[(a,b), c] ~ sum_k alpha_k cos(w_k (a + b - c))`` fits; (FVE, alphas).

    logits [p*p, p] (rows a-major). Each row is centred (softmax ignores a per-row constant); the alphas are
    least-squares coefficients over all p^3 entries.
    """
    L = (logits - logits.mean(1, keepdim=True)).double().reshape(-1)
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)[:, None]
    b = torch.arange(p, dtype=torch.float64).repeat(p)[:, None]
    c = torch.arange(p, dtype=torch.float64)[None, :]
    X = torch.stack([torch.cos(2 * math.pi * k / p * (a + b - c)).reshape(-1) for k in freqs], 1)
    alpha = torch.linalg.lstsq(X, L[:, None]).solution
    resid = L - (X @ alpha)[:, 0]
    return float(1 - resid.pow(2).sum() / L.pow(2).sum()), alpha[:, 0].float()
