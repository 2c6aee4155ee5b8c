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
    if not dirs:  # no key frequencies: the empty subspace
        return torch.zeros(0, p * p)
    D = torch.stack(dirs)
    return (D / D.norm(dim=1, keepdim=True)).float()


def least_squares_fve(logits: torch.Tensor, X: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Fit row-centred ``logits`` [rows, classes] by the feature columns X [rows * classes, k].

    Returns (fraction of variance explained, coefficients [k], fitted logits [rows, classes]). Rows are
    centred first: softmax ignores a per-row constant.
    """
    L = (logits - logits.mean(1, keepdim=True)).double().reshape(-1)
    coef = torch.linalg.lstsq(X.double(), L[:, None]).solution
    fitted = (X.double() @ coef)[:, 0]
    fve = float(1 - (L - fitted).pow(2).sum() / L.pow(2).sum())
    return fve, coef[:, 0].float(), fitted.reshape(logits.shape).float()


def cos_logit_fit(logits: torch.Tensor, p: int, freqs) -> tuple[float, torch.Tensor, torch.Tensor]:
    """How well ``logits[(a,b), c] ~ sum_k alpha_k cos(w_k (a + b - c))`` fits: (FVE, alphas, fitted logits).

    logits [p*p, p] (rows a-major); the alphas are least-squares coefficients over all p^3 entries. With no
    frequencies the fit is zero and explains nothing.
    """
    if len(freqs) == 0:
        return 0.0, torch.zeros(0), torch.zeros_like(logits)
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)[:, None]
    b = torch.arange(p, dtype=torch.float64).repeat(p)[:, None]
    c = torch.arange(p, dtype=torch.float64)[None, :]
    X = torch.stack([torch.cos(2 * math.pi * k / p * (a + b - c)).reshape(-1) for k in freqs], 1)
    return least_squares_fve(logits, X)


def logit_variance_split(logits: torch.Tensor, p: int, freqs) -> dict[str, float]:
    """Where the variance of the logits lies: shares of the row-centred logits' squared norm.

    logits [p*p, p] (rows a-major). Softmax ignores a per-row constant, so rows are centred first. Then

    * ``class_constant``: the per-class mean over all pairs, a function of c alone (the part that
      ``measures.restricted_logits`` keeps as the paper code's ``bias_correction`` does);
    * ``key_sum``: the key frequencies' cos/sin(w_k(a+b)) subspace, times any function of c, of what remains;
    * ``rest``: everything else (other frequencies of a+b, functions of a and b separately, memorization).

    The three are orthogonal and add up to 1.
    """
    Lc = (logits - logits.mean(1, keepdim=True)).double()
    total = Lc.pow(2).sum()
    M = Lc.mean(0, keepdim=True)
    L2 = Lc - M
    U = sum_directions(p, freqs).double() @ L2  # [2K, p]
    const = float(M.pow(2).sum() * Lc.shape[0] / total)
    key = float(U.pow(2).sum() / total)
    return {"class_constant": const, "key_sum": key, "rest": 1 - const - key}


def sum_term_decomposition(logits: torch.Tensor, p: int, freqs) -> dict[int, dict[str, float]]:
    """For each key frequency k, how its cos/sin(w_k(a+b)) component depends on the output c.

    The component of the double-centred logits along cos(w_k(a+b)) and sin(w_k(a+b)) is
    ``cos(w_k(a+b)) u(c) + sin(w_k(a+b)) v(c)``. Of its energy ``|u|^2 + |v|^2``, the shares

    * ``diff``: in the paper's form cos(w_k(a+b-c)) (u ~ cos(w_k c), v ~ sin(w_k c), equal weights;
      Nanda et al. 2023 eq. for the logits, §4);
    * ``diff_phase``: in cos(w_k(a+b-c) + phi) for any phase (adds sin(w_k(a+b-c)));
    * ``sum``: in cos/sin(w_k(a+b+c)), the other product of the same frequencies;
    * ``other_c``: at frequencies of c other than k.

    ``diff_phase + sum + other_c = 1``. Returns {k: {name: share, "energy": |u|^2 + |v|^2}}.
    """
    Lc = (logits - logits.mean(1, keepdim=True)).double()
    L2 = Lc - Lc.mean(0, keepdim=True)
    B, _ = fourier_basis(p)
    B = B.double()
    out = {}
    for i, k in enumerate(freqs):
        D = sum_directions(p, [k]).double()  # [2, p*p]
        u, v = D @ L2  # functions of c [p]
        (A, Bs), (C, Dd) = (float(u @ B[2 * k - 1]), float(u @ B[2 * k])), (float(v @ B[2 * k - 1]), float(v @ B[2 * k]))
        energy = float(u.pow(2).sum() + v.pow(2).sum())
        same = A * A + Bs * Bs + C * C + Dd * Dd
        e = max(energy, 1e-300)
        out[k] = {"diff": (A + Dd) ** 2 / 2 / e, "diff_phase": ((A + Dd) ** 2 + (C - Bs) ** 2) / 2 / e,
                  "sum": ((A - Dd) ** 2 + (Bs + C) ** 2) / 2 / e, "other_c": 1 - same / e, "energy": energy}
    return out


class CosineFit:
    """Per-column fits ``w[x, i] ~ amp_i * cos(2 pi freq_i x / p + phase_i) + offset_i`` with their R^2."""

    def __init__(self, freq, amp, phase, offset, r2):
        self.freq, self.amp, self.phase, self.offset, self.r2 = freq, amp, phase, offset, r2

    def curves(self, p: int) -> torch.Tensor:
        """The fitted functions [p, n]."""
        x = torch.arange(p, dtype=torch.float64)[:, None]
        w = 2 * math.pi * self.freq.double()[None] / p
        return (self.amp.double() * torch.cos(w * x + self.phase.double()) + self.offset.double()).float()


def fit_cosines(W: torch.Tensor, freq: torch.Tensor | None = None) -> CosineFit:
    """Fit a cosine to every column of W [p, n] (a function of the residue x, one per neuron).

    The frequency is the DFT peak of the column (or ``freq`` when given, to fit several weight vectors of a
    neuron at one shared frequency); amplitude, phase and offset then come from linear least squares on
    ``[cos(w x), sin(w x), 1]``. On Z_p only integer frequencies are periodic, so the least-squares
    refinement is over amplitude, phase and offset at that frequency.
    """
    p, n = W.shape
    W = W.detach().double().cpu()
    if freq is None:
        f = to_fourier(W, 0).pow(2)
        freq = (f[1::2] + f[2::2]).argmax(0) + 1
    x = torch.arange(p, dtype=torch.float64)
    w = 2 * math.pi * freq.double() / p  # [n]
    C, S = torch.cos(w[None] * x[:, None]), torch.sin(w[None] * x[:, None])  # [p, n]
    X = torch.stack([C, S, torch.ones_like(C)], -1).permute(1, 0, 2)  # [n, p, 3]
    coef = torch.linalg.lstsq(X, W.T[..., None]).solution[..., 0]  # [n, 3]: A cos(phi), -A sin(phi), o
    fitted = (X @ coef[..., None])[..., 0].T  # [p, n]
    ss_res = (W - fitted).pow(2).sum(0)
    ss_tot = (W - W.mean(0)).pow(2).sum(0).clamp_min(1e-30)
    amp = coef[:, :2].norm(dim=1)
    phase = torch.atan2(-coef[:, 1], coef[:, 0])
    return CosineFit(freq=freq.long(), amp=amp.float(), phase=phase.float(), offset=coef[:, 2].float(),
                     r2=(1 - ss_res / ss_tot).float())


def circular_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|x - y| on the circle, in [0, pi]."""
    d = torch.remainder(x - y, 2 * math.pi)
    return torch.minimum(d, 2 * math.pi - d)


CLUSTER_FVE = 0.85  # Nanda et al. 2023 §4.2: a neuron is in a frequency's cluster if that frequency explains > 85 %
PROMINENT_FRAC = 0.5  # a frequency is prominent in a weight matrix if its norm is >= half the largest


def neuron_clusters(acts: torch.Tensor, fve_threshold: float = CLUSTER_FVE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each neuron's best single frequency (1-based), its FVE, and whether that FVE passes the threshold.

    acts [p, p, n] -> (freq [n], fve [n], clustered [n] bool).
    """
    fve = neuron_freq_fve(acts)
    best = fve.max(1)
    return best.indices + 1, best.values, best.values > fve_threshold


KEY_MIN_SHARE = 0.05  # the book's floor: a key frequency is the best frequency of >= 5 % of the neurons


def key_frequencies_by_vote(acts: torch.Tensor, min_share: float = KEY_MIN_SHARE) -> list[int]:
    """The book's one rule for the key frequencies of a model: (1-based, sorted).

    acts [p, p, n]: each neuron's activation at '=' over every pair (a, b). Every live neuron votes for its best
    single frequency (largest ``neuron_freq_fve`` of its centred activations) -- the rule of Nanda et al.'s code
    (``calculate_key_freqs`` in the progress-measures repository: ``np.unique`` of every neuron's best frequency,
    no FVE threshold). Their ``np.unique`` keeps a frequency that a single neuron votes for; we keep a frequency
    only if at least ``min_share`` of the neurons vote for it, so one noisy neuron does not make a key frequency.
    Their loop also stops one frequency short (``range(1, p // 2)``); we consider every frequency.
    Dead neurons (no variance over the pairs) do not vote.
    """
    fve = neuron_freq_fve(acts)
    F2 = acts.float().reshape(-1, acts.shape[-1])
    live = (F2.max(0).values - F2.min(0).values) > 0
    best = fve.argmax(1) + 1
    counts = torch.bincount(best[live], minlength=n_freqs(acts.shape[0]) + 1)
    return [k for k in range(1, len(counts)) if counts[k] >= min_share * acts.shape[-1] and counts[k] > 0]


def clustered_key_frequencies(acts: torch.Tensor, fve_threshold: float = CLUSTER_FVE,
                              min_share: float = KEY_MIN_SHARE) -> list[int]:
    """The key frequencies (``key_frequencies_by_vote``) that a cluster of neurons carries: at least ``min_share``
    of the neurons have the frequency as their best, with FVE above ``fve_threshold`` (``neuron_clusters``).

    The vote alone does not tell a model with the algorithm from one without: the neurons of a memorizing model
    vote too, and their best frequencies can already be the final ones (the grokking chapter's seed 999 at step
    200, with none of its neurons clustered, votes for five: the four final ones and one more; Intel Xeon,
    2026-12-08). Such a model has no clusters, so none of its votes
    count here.
    """
    freq, _, clustered = neuron_clusters(acts, fve_threshold)
    carried = set(cluster_frequencies(freq, clustered, min_share))
    return [k for k in key_frequencies_by_vote(acts, min_share) if k in carried]


def cluster_frequencies(freq: torch.Tensor, clustered: torch.Tensor, min_share: float) -> list[int]:
    """Frequencies that are the best single frequency of at least ``min_share`` of all neurons."""
    counts = torch.bincount(freq[clustered], minlength=int(freq.max()) + 1)
    return [k for k in range(1, len(counts)) if counts[k] >= min_share * len(freq)]


# ---- the multiplicative group (Z_p)^*: Fourier analysis in discrete-log order --------------------------------

def primitive_root(p: int) -> int:
    """The smallest generator g of the multiplicative group mod the prime ``p``."""
    check_prime("p", p)
    for g in range(1, p):
        if len({pow(g, k, p) for k in range(p - 1)}) == p - 1:
            return g
    raise AssertionError("unreachable: every prime has a primitive root")


def discrete_log_order(p: int) -> torch.Tensor:
    """[p-1]: the residues g^0, g^1, .., g^(p-2) mod p (so position k holds the number whose log is k)."""
    g = primitive_root(p)
    return torch.tensor([pow(g, k, p) for k in range(p - 1)])


def mult_character_basis(p: int) -> tuple[torch.Tensor, list[str]]:
    """The real characters of (Z_p)^* in discrete-log order: (B [p-1, p-1] with orthonormal rows, names).

    The multiplicative counterpart of ``fourier_basis``: column k is the residue g^k (``discrete_log_order``),
    where x -> x^d and multiplication act as shifts of k over Z_(p-1). Rows: ``const``, then ``cos j`` and
    ``sin j`` of ``w_j k`` with ``w_j = 2 pi j / (p-1)`` for j = 1 .. (p-3)/2, then the one real character
    ``(-1)^k`` at j = (p-1)/2 (``nyq``: the Legendre symbol, x -> x^((p-1)/2)), each scaled to unit norm --
    so every frequency is weighed as in the additive basis (the same Parseval norm), the Nyquist one included.
    For p = 2 the group is trivial and the basis is the constant alone.
    """
    check_prime("p", p)
    n = p - 1
    k = torch.arange(n, dtype=torch.float64)
    rows, names = [torch.ones(n, dtype=torch.float64)], ["const"]
    for j in range(1, (n + 1) // 2):
        rows += [torch.cos(2 * math.pi * j * k / n), torch.sin(2 * math.pi * j * k / n)]
        names += [f"cos {j}", f"sin {j}"]
    if n % 2 == 0:
        rows.append(torch.cos(math.pi * k))  # (-1)^k
        names.append(f"nyq {n // 2}")
    B = torch.stack(rows)
    return B / B.norm(dim=1, keepdim=True), names


def to_mult_characters(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """x with axis ``dim`` (length p: a function of the residues 0..p-1) -> [p-1] coefficients, float64.

    The residue 0 is not in the group and is dropped; 1..p-1 are read in discrete-log order and expressed in
    ``mult_character_basis``.
    """
    p = x.shape[dim]
    B, _ = mult_character_basis(p)
    f = torch.movedim(x, dim, 0)[discrete_log_order(p)].double()
    return torch.movedim(torch.tensordot(B, f, dims=1), 0, dim)


def mult_freq_norms(x: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Norm of each multiplicative frequency j = 1 .. (p-1)/2 of ``x`` along ``dim`` (a function of 0..p-1).

    The norm of x's projection on the orthonormal ``mult_character_basis`` rows of frequency j (the (cos j,
    sin j) pair; the single ``(-1)^k`` row for j = (p-1)/2), summed over the other axes -- the counterpart of
    ``freq_norms``; the constant is left out. The residue 0 is dropped. Returns float32 [(p-1)//2].
    """
    f = torch.movedim(to_mult_characters(x, dim), dim, 0)
    sq = f.pow(2).reshape(f.shape[0], -1).sum(1)  # [p-1]: const, cos 1, sin 1, ..., nyq
    n = len(sq)
    out = [sq[2 * j - 1] + sq[2 * j] for j in range(1, (n + 1) // 2)]
    if n % 2 == 0 and n > 0:
        out.append(sq[n - 1])
    return torch.stack(out).sqrt().float() if out else torch.zeros(0)


def power_image(p: int, d: int) -> list[int]:
    """The image of x -> x^d on (Z_p)^*: the (p-1)/gcd(d, p-1) residues g^(d k), sorted."""
    check_prime("p", p)
    return sorted({pow(x, d, p) for x in range(1, p)})
