"""Circuits read off a TransformerLens bridge: full QK / OV circuits (as ``FactoredMatrix``), logit maps,
and the small statistics used to read them.

The full OV circuit of head h maps a source token to the logits it adds when attended to:
``W_E @ W_V W_O @ W_U``; the full QK circuit scores a query token against a key token:
``W_E[q] @ W_Q W_K^T @ W_E[k]^T``. Both come back factored (``.AB`` for the dense matrix, ``.svd()``),
as TransformerLens returns ``bridge.OV`` and ``bridge.QK``.

For a one-layer attention-only model, ``Paths`` splits the logits into the direct path and one OV path per head
(Elhage et al. 2021), so that a path can be replaced (a scaled identity, its diagonal, a random control) or ablated
and the model rerun with its own attention pattern: the causal checks of the min-of-two chapter.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from transformer_lens import FactoredMatrix


def full_ov(bridge, layer: int = 0, head: int = 0, n_tokens: int | None = None) -> FactoredMatrix:
    """[n_tokens, d_vocab_out]: source token -> logits written when it is attended to."""
    W_E = bridge.W_E[:n_tokens] if n_tokens is not None else bridge.W_E
    return W_E @ bridge.OV[layer, head] @ bridge.W_U


def full_qk(bridge, query_tokens, key_tokens, layer: int = 0, head: int = 0, query_pos: int | None = None,
            key_pos: int | None = None) -> FactoredMatrix:
    """[n_query, n_key] attention scores (before scaling) between embedded tokens.

    With ``query_pos`` / ``key_pos`` the positional embedding of that position is added to the token's.
    """
    q = bridge.W_E[query_tokens]
    k = bridge.W_E[key_tokens]
    if query_pos is not None:
        q = q + bridge.W_pos[query_pos]
    if key_pos is not None:
        k = k + bridge.W_pos[key_pos]
    return q @ bridge.QK[layer, head] @ k.T


def diagonal_top1(matrix: torch.Tensor) -> float:
    """Fraction of rows whose largest entry is on the diagonal."""
    n = min(matrix.shape)
    return float((matrix[:n].argmax(-1) == torch.arange(n, device=matrix.device)).float().mean())


def ranks(x: torch.Tensor) -> torch.Tensor:
    return x.flatten().argsort().argsort().double()


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman rank correlation of two 1-D tensors (ties broken by order)."""
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()))


def neuron_logit_map(bridge, layer: int = 0) -> torch.Tensor:
    """W_L = W_out @ W_U [d_mlp, d_vocab_out]: what each neuron writes to the logits."""
    return bridge.W_out[layer] @ bridge.W_U


@torch.no_grad()
def run_with_pattern(bridge, tokens: torch.Tensor, pattern: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """Logits when the attention pattern of ``layer`` is replaced by ``pattern`` [batch, n_heads, q, k]."""
    def replace(_, hook):
        return pattern.to(_)

    return bridge.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_pattern", replace)])


# ---- one-layer attention-only transformers: the logits as a sum of paths ----------------------------------------
# Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits", section "One-layer attention-only
# transformers": without LayerNorm, MLPs or biases the logits at the last position are exactly
#     logits = (W_E + W_pos[-1])[t_last] W_U                                       (direct path)
#            + sum_h sum_j A^h_j (W_E[t_j] + W_pos[j]) W_V^h W_O^h W_U              (one path per head)
# with A^h the last query's attention pattern. Kissane's min-of-two tutorial writes the same identity as
# logits = A t W_E W_OV W_U + t W_E W_U. Once A is read off the model (it depends only on QK), every term is a
# matrix that can be replaced or ablated and the model rerun: ``Paths``.


@torch.no_grad()
def direct_path(bridge) -> FactoredMatrix:
    """[d_vocab, d_vocab_out]: W_E W_U, the logits a token at the query position writes without attention."""
    return FactoredMatrix(bridge.W_E, bridge.W_U)


@torch.no_grad()
def pos_ov(bridge, layer: int = 0) -> FactoredMatrix:
    """[n_heads, n_ctx, d_vocab_out]: W_pos W_OV W_U, the logits a key *position* writes when attended to."""
    return bridge.W_pos @ bridge.OV[layer] @ bridge.W_U


def _nonzero_biases(bridge) -> list[str]:
    return [k for k, v in bridge.state_dict().items() if k.endswith(".bias") and torch.count_nonzero(v)]


@dataclass
class Paths:
    """The last position's logits of a one-layer, attention-only, bias-free transformer, path by path.

    Dense tensors, not ``FactoredMatrix``: a replacement such as a scaled identity on 200 tokens has full rank
    and cannot be factored through a 32-wide residual stream, so the paths are replaced in logit space. For the
    learned weights ``logits`` reproduces the model's own logits (checked in ``tests/test_circuits.py``).
    """

    ov: torch.Tensor  # [n_heads, d_vocab, d_vocab_out]  W_E W_OV W_U: source token -> logits, per head
    pos: torch.Tensor  # [n_heads, n_ctx, d_vocab_out]   W_pos W_OV W_U: key position -> logits, per head
    direct: torch.Tensor  # [d_vocab, d_vocab_out]        W_E W_U: the query token's own logits
    direct_pos: torch.Tensor  # [d_vocab_out]             W_pos[-1] W_U: the query position's own logits

    @classmethod
    @torch.no_grad()
    def of(cls, bridge, layer: int = 0) -> "Paths":
        """The paths of a one-layer attention-only bridge (raises if any bias is non-zero)."""
        if bad := _nonzero_biases(bridge):
            raise ValueError(f"Paths assumes zero biases; non-zero: {bad}")
        return cls(ov=(bridge.W_E @ bridge.OV[layer] @ bridge.W_U).AB.detach().clone(),
                   pos=pos_ov(bridge, layer).AB.detach().clone(),
                   direct=direct_path(bridge).AB.detach().clone(),
                   direct_pos=(bridge.W_pos[-1] @ bridge.W_U).detach().clone())

    def replace(self, **changes) -> "Paths":
        """A copy with some paths replaced, e.g. ``paths.replace(direct=torch.zeros_like(paths.direct))``."""
        return dataclasses.replace(self, **changes)

    def ablate(self, *names: str) -> "Paths":
        """A copy with the named paths set to zero."""
        return self.replace(**{n: torch.zeros_like(getattr(self, n)) for n in names})

    @torch.no_grad()
    def logits(self, tokens: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
        """tokens [batch, n_ctx], pattern [batch, n_heads, n_ctx] (the last query's attention) ->
        logits [batch, d_vocab_out]."""
        out = self.direct[tokens[:, -1]] + self.direct_pos  # [batch, d_vocab_out]
        for h in range(self.ov.shape[0]):
            values = self.ov[h][tokens] + self.pos[h]  # [batch, n_ctx, d_vocab_out]
            out = out + torch.einsum("bk,bko->bo", pattern[:, h].to(values), values)
        return out


@torch.no_grad()
def last_pattern(bridge, tokens: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """[batch, n_heads, n_ctx]: the last position's attention pattern, read from ``cache["pattern", layer]``."""
    _, cache = bridge.run_with_cache(tokens, names_filter=f"blocks.{layer}.attn.hook_pattern")
    return cache["pattern", layer][:, :, -1, :]


# ---- replacements for a full OV circuit (one head, [d_vocab, d_vocab_out]); source rows >= n are zeroed ----

def row_centred(m: torch.Tensor) -> torch.Tensor:
    """``m`` minus each row's mean: the part of a logit map that a softmax sees (adding a constant to every
    logit of a row changes nothing)."""
    return m - m.mean(-1, keepdim=True)


def copy_scale(ov: torch.Tensor, n: int) -> float:
    """The learned circuit's mean copy margin over the first ``n`` source tokens:
    mean_j (ov[j, j] - mean_{k != j} ov[j, k]). For ``s * I + c`` it is ``s``."""
    sq = ov[:n, :n].double()
    diag = sq.diagonal()
    off = (sq.sum(-1) - diag) / (n - 1)
    return float((diag - off).mean())


def scaled_identity(ov: torch.Tensor, n: int, scale: float) -> torch.Tensor:
    """A pure copy with the shape of ``ov``: ``scale`` on the diagonal of the first ``n`` rows, 0 elsewhere."""
    out = torch.zeros_like(ov)
    out[:n, :n] = scale * torch.eye(n, dtype=ov.dtype, device=ov.device)
    return out


def diagonal_only(ov: torch.Tensor, n: int) -> torch.Tensor:
    """``ov`` with every entry but the diagonal of the first ``n`` rows set to 0 (Issue: "ablate the OV circuit
    to its diagonal")."""
    out = torch.zeros_like(ov)
    idx = torch.arange(n, device=ov.device)
    out[idx, idx] = ov[idx, idx]
    return out


def diagonal_ablated(ov: torch.Tensor, n: int) -> torch.Tensor:
    """``ov`` (first ``n`` rows) with each diagonal entry mean-ablated: replaced by its row's mean off-diagonal
    entry, so the row keeps everything but its copy margin."""
    out = torch.zeros_like(ov)
    sq = ov[:n, :n].clone()
    idx = torch.arange(n, device=ov.device)
    sq[idx, idx] = (sq.sum(-1) - sq[idx, idx]) / (n - 1)
    out[:n, :n] = sq
    return out


def random_like(ov: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """A control: a Gaussian [n, n] block, row-centred and scaled to the Frobenius norm of the row-centred
    ``ov[:n, :n]`` (the same norm where the softmax can see it); rows >= n are 0."""
    g = torch.Generator().manual_seed(seed)
    r = row_centred(torch.randn(n, n, generator=g, dtype=torch.float64))
    target = row_centred(ov[:n, :n].double()).norm()
    out = torch.zeros_like(ov)
    out[:n, :n] = (r * target / r.norm()).to(ov)
    return out


def one_hot_pattern(index: torch.Tensor, n_ctx: int, n_heads: int = 1) -> torch.Tensor:
    """[batch, n_heads, n_ctx]: all attention on key position ``index`` [batch]."""
    out = torch.zeros(len(index), n_heads, n_ctx)
    out[torch.arange(len(index)), :, index] = 1.0
    return out


def loss_acc(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy on float64 logits, as the anchors compute it; accuracy) of logits [batch, classes]."""
    loss = torch.nn.functional.cross_entropy(logits.double(), labels)
    return float(loss), float((logits.argmax(-1) == labels).double().mean())


def prior_baseline(labels: torch.Tensor, n_classes: int) -> tuple[float, float]:
    """(loss, accuracy) of the best input-blind predictor: the label frequencies as probabilities (loss = their
    entropy) and the majority label as the answer."""
    freq = torch.bincount(labels, minlength=n_classes).double() / len(labels)
    nz = freq[freq > 0]
    return float(-(nz * nz.log()).sum()), float(freq.max())


PREDICT_CHUNK = 65_536  # rows per forward pass in ``predictions`` (the seed polynomial notebook's batch size)


@torch.no_grad()
def predictions(model, tokens: torch.Tensor, chunk: int = PREDICT_CHUNK) -> torch.Tensor:
    """[rows]: the model's answer (the argmax of its last position's logits) on every row of ``tokens``
    [rows, n_ctx], ``chunk`` rows per forward pass so that a large table's activations are never held at once;
    returned on the CPU."""
    return torch.cat([model(tokens[i:i + chunk]).argmax(-1).cpu() for i in range(0, len(tokens), chunk)])
