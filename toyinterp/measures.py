"""Progress measures (Nanda et al. 2023, §5) and the logit ablations of §4.4.

* ``restricted_logits``: keep only the components of the logits along ``cos(w_k(a+b))`` and ``sin(w_k(a+b))``
  for the key frequencies (plus the per-class constant). The loss of these logits (*restricted loss*) falls
  once the Fourier circuit exists, before the test loss does.
* ``excluded_logits``: remove exactly those components. The loss on the *train* rows (*excluded loss*) rises
  while the circuit forms: memorization alone no longer fits the data once the circuit's part is taken out.
* ``gini``: sparsity of a vector of non-negative weights (0 for uniform, (n-1)/n for one-hot); applied to the
  norms of the Fourier components of ``W_E`` and of ``W_L = W_out W_U``, it rises during cleanup.
* ``weight_norm``: the total sum of squared weights, which weight decay drives down.

Logits here are [p*p, p]: rows are the pairs (a, b), a-major, as ``tasks.ModularAddition`` lays them out.
Both project the logits over the pairs as the paper's code does (``get_component_cos_xpy`` /
``get_component_sin_xpy`` in ``helpers.py`` of the progress-measures repository). The restricted loss is its
``calculate_trig_loss``: the key frequencies' components summed, each class's mean added back
(``test_logits(..., bias_correction=True)``), scored on all pairs. The excluded loss removes *all* the key
frequencies at once and scores the train pairs, as the paper's §5.1 defines it; the repository's
``calculate_excluded_loss`` instead removes one key frequency at a time and returns one loss per frequency (with
``bias_correction=False``, which changes nothing here: the removed components have zero mean over the pairs).
The TransformerLens grokking demo's ``get_restricted_loss`` works on the neuron activations instead.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import groups as _groups
from .fourier import CLUSTER_FVE, fourier_basis, freq_rows, neuron_clusters, neuron_freq_fve, sum_directions, to_fourier


def gini(x: torch.Tensor) -> float:
    """Gini coefficient of the non-negative entries of ``x``."""
    x = x.detach().double().flatten().abs().sort().values
    n = x.numel()
    if x.sum() == 0:
        return 0.0
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(2 * (i * x).sum() / (n * x.sum()) - (n + 1) / n)


def weight_norm(model) -> float:
    """Sum of squared trainable weights."""
    return float(sum(p.detach().double().pow(2).sum() for p in model.parameters() if p.requires_grad))


def nanda_init_weight_norm(cfg) -> float:
    """The expected sum of squared weights of Nanda et al.'s initialization for a transformer config ``cfg``.

    The scheme and its source are in ``models.nanda2023_init`` (which draws it): every matrix of variance
    1/d_model, ``W_U`` of variance 1/d_vocab. A matrix of n entries of variance 1/fan has expected sum of
    squares n / fan. For p = 113 this is 1,781.
    """
    d, hd, v = cfg.d_model, cfg.n_heads * cfg.d_head, cfg.d_vocab
    total = v * d / d + cfg.n_ctx * d / d + 3 * hd * d / d + d * hd / d + d * v / v
    if not cfg.attn_only:
        total += 2 * cfg.d_mlp * d / d
    return float(total)


def loss_spikes(steps, losses, after: int = 0, factor: float = 10.0) -> list[int]:
    """Evaluated steps after ``after`` where the loss is more than ``factor`` times its running minimum so far.

    The saw-tooth a float32 softmax causes once the loss nears zero (Prieto et al. 2025, arXiv 2501.04697):
    a smooth post-grokking curve has none.
    """
    out, low = [], math.inf
    for s, v in zip(steps, losses):
        if s > after and v > factor * low:
            out.append(s)
        low = min(low, v)
    return out


def phase_boundaries(history, p: int) -> dict[str, int | None]:
    """The ends of Nanda et al. 2023's three phases (§5.1), each found from the train/test curves only.

    The paper reads its boundaries (1.4k, 9.4k, 14k epochs) off its progress measures; we define each from a
    curve that none of the chapter's phase claims tests (those are about the excluded and restricted loss,
    the Gini coefficients and the weight norm), so no claim holds by construction:

    * ``memorization``: the first evaluated step with 100 % train accuracy;
    * ``circuit_formation``: the first step where the test loss falls below that of uniform guessing, ln p;
    * ``cleanup``: the first step with 100 % test accuracy (every held-out pair right).

    A boundary never reached is None.
    """
    return {"memorization": history.first_step("train_acc", above=1 - 1e-9),
            "circuit_formation": history.first_step("test_loss", below=math.log(p)),
            "cleanup": history.first_step("test_acc", above=1 - 1e-9)}


def _sum_projection(logits: torch.Tensor, p: int, freqs) -> torch.Tensor:
    D = sum_directions(p, freqs).to(logits)  # [2K, p*p]
    return D.T @ (D @ logits)


def restricted_logits(logits: torch.Tensor, p: int, freqs) -> torch.Tensor:
    """Only the key frequencies' cos/sin(w_k(a+b)) components, plus each class's mean over pairs."""
    return logits.mean(0, keepdim=True) + _sum_projection(logits, p, freqs)


def excluded_logits(logits: torch.Tensor, p: int, freqs) -> torch.Tensor:
    """The logits with the key frequencies' cos/sin(w_k(a+b)) components removed."""
    return logits - _sum_projection(logits, p, freqs)


def loss(logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor | None = None) -> float:
    if idx is not None:
        logits, labels = logits[idx], labels[idx]
    return float(F.cross_entropy(logits.double(), labels))  # float64, as the anchors compute it


def logit_map(model) -> torch.Tensor:
    """The neuron-logit map W_L = W_out W_U [d_mlp, d_vocab_out] of one of our transformers as its forward pass
    uses it: the quantized W_out of a BitLinear model, and the BitNet anchor's final-norm gain folded into W_U
    (``circuits.neuron_logit_map`` is the same map read from a bridge)."""
    W_U = model.W_U * model.w_ln_final[:, None] if model.cfg.final_norm_gain else model.W_U
    return model.effective("W_out") @ W_U


def embedding_freq_gini(W_E: torch.Tensor, p: int) -> float:
    """Gini of the norms of the Fourier components of the number embeddings W_E[:p] [p, d_model]."""
    return gini(to_fourier(W_E[:p].detach(), 0).norm(dim=1))


def logit_map_freq_gini(W_L: torch.Tensor) -> float:
    """Gini of the norms of the Fourier components (over the output class) of W_L [d_mlp, p]."""
    return gini(to_fourier(W_L.detach(), 1).norm(dim=0))


def key_direction_projector(W_L: torch.Tensor, freqs) -> torch.Tensor:
    """Projector [d_mlp, d_mlp] onto the span of W_L's key-frequency directions ``W_L cos(w_k c)``, ``W_L sin(w_k c)``."""
    p = W_L.shape[1]
    B, _ = fourier_basis(p)
    rows = [r for k in freqs for r in freq_rows(k)]
    U = W_L.detach() @ B[rows].T.to(W_L)  # [d_mlp, 2K]
    Q, _ = torch.linalg.qr(U)
    return Q @ Q.T


def neuron_key_fve(acts: torch.Tensor, freqs) -> torch.Tensor:
    """[n]: the fraction of each neuron's variance over (a, b) that the frequencies ``freqs`` explain together.

    acts [p, p, n]. The single-frequency parts of ``neuron_freq_fve`` are disjoint, so they add up.
    """
    return neuron_freq_fve(acts)[:, [k - 1 for k in freqs]].sum(1)


@torch.no_grad()
def progress_measures(model, snapshots: dict[int, dict], task, freqs, neurons: bool = False,
                      fve_threshold: float = CLUSTER_FVE) -> dict[str, list]:
    """The §5 measures at every snapshot: losses, restricted/excluded loss, Gini of W_E and W_L, weight norm.

    ``model`` is a ``models.Transformer`` whose weights are replaced by each snapshot in turn; ``W_L`` is the
    map the forward pass uses (quantized for a BitLinear ``W_out``). With ``neurons``, also the fraction of
    neurons whose best single frequency explains more than ``fve_threshold`` of their activation at '='
    (``clustered``) and the median fraction the key frequencies explain together (``neuron_key_fve``).
    """
    p = task.p
    names = ["step", "train_loss", "test_loss", "restricted_loss", "excluded_loss", "gini_W_E", "gini_W_L",
             "weight_norm"] + (["clustered", "neuron_key_fve"] if neurons else [])
    out = {k: [] for k in names}
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    for step, weights in sorted(snapshots.items()):
        model.load_state_dict(weights)
        if neurons:
            logits, cache = model.run_with_cache(task.tokens)
            acts = cache["post", 0].reshape(p, p, -1)
            out["clustered"].append(float(neuron_clusters(acts, fve_threshold)[2].float().mean()))
            out["neuron_key_fve"].append(float(neuron_key_fve(acts, freqs).median()))
        else:
            logits = model(task.tokens)
        out["step"].append(step)
        out["train_loss"].append(loss(logits, task.labels, task.train_idx))
        out["test_loss"].append(loss(logits, task.labels, task.test_idx))
        out["restricted_loss"].append(loss(restricted_logits(logits, p, freqs), task.labels))
        out["excluded_loss"].append(loss(excluded_logits(logits, p, freqs), task.labels, task.train_idx))
        out["gini_W_E"].append(embedding_freq_gini(model.W_E, p))
        out["gini_W_L"].append(logit_map_freq_gini(logit_map(model)))
        out["weight_norm"].append(weight_norm(model))
    model.load_state_dict(saved)
    return out


def error_offsets(logits: torch.Tensor, labels: torch.Tensor, p: int) -> dict[int, int]:
    """{(predicted - correct) mod p: number of rows} over the rows ``logits`` [n, p] gets wrong (empty when none).

    Which wrong answer a model gives: a model that computes ``c = a + b`` as a sum of ``cos(w_k(a+b-c))`` over a
    few key frequencies separates ``c`` from ``c + d`` by ``sum_k alpha_k (1 - cos(w_k d))``, so its errors, if
    any, fall on the offsets ``d`` where that margin is small."""
    pred = logits.argmax(-1)
    wrong = pred != labels
    d, n = torch.unique((pred[wrong] - labels[wrong]) % p, return_counts=True)
    return {int(k): int(v) for k, v in zip(d, n)}


def accuracy_by(correct: torch.Tensor, key: torch.Tensor, n_keys: int) -> torch.Tensor:
    """[n_keys]: the accuracy of the rows with each value of ``key`` (NaN where a key has no rows)."""
    key = key.long()
    hits = torch.bincount(key, weights=correct.double(), minlength=n_keys)
    rows = torch.bincount(key, minlength=n_keys).double()
    return hits / rows


def rank_one_readout(F: torch.Tensor, share: float = 0.95) -> bool:
    """Whether a 2-D irrep's readout matrix ``F`` (``groups.readout_matrices``) is rank one: its top singular value
    carries more than ``share`` of its squared norm, the form ``u^T rho(g) u`` of a coset readout (Stander et al.
    2024). A random Gaussian 2x2 matrix passes at 0.95 about 44 % of the time, so a count of such irreps means
    something only beside the same count for an untrained model."""
    return F.shape[0] == 2 and bool(torch.linalg.svdvals(F)[0] ** 2 / F.pow(2).sum() > share)


# ---- controls for the dihedral chapter's GCR claims (book/03_dihedral.md, sections 2 and 4) -------------------


def lookup_table_control(labels: torch.Tensor, order: int, margin: float, noise: float, seed: int):
    """A model with no representation mechanism: a noisy lookup table, written as a one-hidden-layer network.

    One hidden ReLU per pair (a, b), ``relu(1[a] + 1[b] - 1)``, which fires on that pair alone (input tables
    ``T_a[:, n] = e_a``, ``T_b[:, n] = e_b - 1``, [order, order^2]); a readout that stores each pair's logits:
    ``margin`` on the answer ``labels`` plus N(0, ``noise``^2) noise (seeded). Returns (logits [order^2, order],
    T_a, T_b). The hidden layer is the identity over pairs, so ``groups.rho_ab_restricted_excluded_loss``, which
    projects along the pair index, gives the same losses with ``hidden=logits`` and an identity readout
    ((Q Q^T H) W = Q Q^T (H W)): pass those rather than a [order^2, order^2] identity."""
    g = torch.Generator().manual_seed(seed)
    logits = margin * F.one_hot(labels, order).float() + noise * torch.randn(len(labels), order, generator=g)
    a, b = torch.arange(order).repeat_interleave(order), torch.arange(order).repeat(order)  # the pairs, a-major
    return logits, F.one_hot(a, order).T.float(), F.one_hot(b, order).T.float() - 1


def shuffled_irreps(best: torch.Tensor, clustered: torch.Tensor, seed: int) -> torch.Tensor:
    """[d_mlp]: each clustered neuron labelled with the ``best`` irrep of a *different* clustered neuron (the
    clustered neurons in a seeded random order, each taking its successor's label), -1 for the others. The labels
    keep the clustered neurons' irrep counts, so a control that uses them draws from the key irreps as often as
    the neurons do (``groups.random_other_irreps`` draws every non-trivial irrep alike)."""
    idx = torch.nonzero(clustered).flatten()
    order = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]
    out = torch.full_like(best, -1)
    out[order] = best[order.roll(-1)]
    return out


def shrink_clusters(T_a: torch.Tensor, T_b: torch.Tensor, W_out: torch.Tensor, G, irrep_of: torch.Tensor):
    """The norm-matched control of ``groups.ablate_clusters(..., mode="remove")``: for each neuron n with
    ``irrep_of[n] >= 0``, each of its three weight columns (``T_a``, ``T_b`` [order, d_mlp], ``W_out``'s row) keeps
    its trivial (constant) part and has its non-trivial part scaled by ``sqrt(1 - s)``, ``s`` the share of that part
    in irrep ``irrep_of[n]``: the column loses the squared norm that removing the irrep takes, spread over every
    irrep in proportion instead of taken from the one. Returns copies (T_a, T_b, W_out)."""
    out = [T_a.detach().clone(), T_b.detach().clone(), W_out.detach().clone().T]  # each [order, d_mlp]
    for n in torch.nonzero(irrep_of >= 0).flatten().tolist():
        for w in out:
            col = w[:, n:n + 1]
            const = _groups.project_irreps(col, G, [0])
            rest = col - const
            own = _groups.project_irreps(col, G, [int(irrep_of[n])])
            s = float(own.pow(2).sum() / rest.pow(2).sum().clamp_min(1e-30))
            w[:, n:n + 1] = const + math.sqrt(max(0.0, 1 - s)) * rest
    return out[0], out[1], out[2].T
