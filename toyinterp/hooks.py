"""Hook points where TransformerLens puts them, for our own models.

``HookedModel`` is a ``HookedRootModule`` whose ``run_with_cache`` returns an ``ActivationCache``, so
``cache["pattern", 0]``, ``cache["pre", 0]`` and ``cache["post", 0]`` work on our fast transformer and on our
MLPs as on a TransformerLens model. ``Block`` holds a layer's hook points under TransformerLens's names
(``blocks.0.attn.hook_pattern``, ``blocks.0.hook_resid_mid``, ``blocks.0.mlp.hook_pre`` / ``hook_post``).
"""
from __future__ import annotations

import torch.nn as nn
from transformer_lens import ActivationCache, HookedRootModule
from transformer_lens.hook_points import HookPoint


class _Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.hook_pattern = HookPoint()  # [batch, n_heads, query_pos, key_pos]


class _Hidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.hook_pre = HookPoint()  # [batch, d_mlp]
        self.hook_post = HookPoint()  # [batch, d_mlp]


class Block(nn.Module):
    """Hook points where TransformerLens puts them: ``blocks.0.attn.hook_pattern``, ``blocks.0.mlp.hook_post``."""

    def __init__(self, attn: bool = True, mlp: bool = True):
        super().__init__()
        if attn:
            self.attn = _Attn()
            self.hook_resid_mid = HookPoint()  # [batch, d_model]
        if mlp:
            self.mlp = _Hidden()


class HookedModel(HookedRootModule):
    """A model with TransformerLens hook points whose ``run_with_cache`` returns an ``ActivationCache``
    (so ``cache["pattern", 0]``, ``cache["post", 0]`` work as on a TransformerLens model)."""

    def run_with_cache(self, *args, **kwargs):
        logits, cache = super().run_with_cache(*args, **kwargs)
        return logits, cache if isinstance(cache, ActivationCache) else ActivationCache(cache, self)
