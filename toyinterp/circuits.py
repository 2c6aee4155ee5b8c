"""Circuits read off a TransformerLens bridge: full QK / OV circuits (as ``FactoredMatrix``), logit maps,
and the small statistics used to read them.

The full OV circuit of head h maps a source token to the logits it adds when attended to:
``W_E @ W_V W_O @ W_U``; the full QK circuit scores a query token against a key token:
``W_E[q] @ W_Q W_K^T @ W_E[k]^T``. Both come back factored (``.AB`` for the dense matrix, ``.svd()``),
as TransformerLens returns ``bridge.OV`` and ``bridge.QK``.
"""
from __future__ import annotations

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
