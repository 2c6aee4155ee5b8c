"""BitLinear: linear layers with 1-bit or 1.58-bit weights, trained through a straight-through estimator.

Two *recipes* for the layers between the embedding and the unembedding (``W`` is the latent full-precision
weight AdamW updates):

``"bitnet"`` -- the papers (Wang et al. 2023, BitNet; Ma et al. 2024, BitNet b1.58):

* ``"binary"``: ``W~ = sign(W - mean(W))`` in {-1, +1}, rescaled by ``beta = mean|W|``.
* ``"ternary"``: ``W~ = RoundClip(W / (gamma + eps), -1, 1)`` in {-1, 0, +1} (absmean quantization), rescaled
  by ``gamma = mean|W|``.
* full precision (``mode=None``): ``W`` itself -- with the inputs below, the fair control of the two above.
* Activations entering the layer are normalized (an RMS norm without gain: BitNet b1.58's SubLN before
  quantization; BitNet 2023 used a LayerNorm and ``Q_b = 2^(b-1)`` levels, which we do not implement, so the
  binary layer too has b1.58's activation path) and quantized to 8 bits per row by absmax: ``x~ = Clip(round(x * 127 / max|x|), -127, 127)``
  rescaled back by ``max|x| / 127``. We compute in this "fake-quantized" form (quantize, then rescale), which
  equals the papers' integer product followed by the scale ``beta * gamma_x / 127``.

``"li2024"`` -- the BitNet anchor's own code (Li 2024, github.com/jasonlizhengjian/MI_of_binary_transformers,
``bitnet/bitlinear.py``: ``BitLinearBinary`` and ``BitLinearTernary`` with ``num_groups=1``):

* ``"binary"``: ``sign(W - mean(W))``, *not* rescaled (the weights are exactly +-1).
* ``"ternary"``: ``weight_quant(W - mean(W))``: the *centred* weights absmean-quantized, ``s = 1 / max(mean|W -
  mean W|, 1e-5)``, ``round(s (W - mean W)).clamp(-1, 1) / s``.
* no input norm and no activation quantization (the ``norm`` and activation-quantization lines of its
  ``forward`` are commented out; ``BitLinearTernary`` builds a ``LayerNorm`` that its ``forward`` never calls).
* the straight-through estimator is applied to the centred weight ``W - mean(W)`` with the mean *not*
  detached, so the latent weight's gradient is the output gradient minus its mean, ``g - mean(g)``.

Gradients pass straight through every quantizer (``x + (q(x) - x).detach()``): the forward value is the
quantized one, the backward is the identity's. ``tests/test_bitlinear.py`` checks the allowed values, the
gradients, that the "bitnet" product equals the integer form, and the "li2024" formulas against the anchor's
code copied verbatim.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .params import ParameterError

MODES = ("binary", "ternary")
RECIPES = ("bitnet", "li2024")
ACT_LEVELS = 127  # 8-bit signed activations
EPS = 1e-5


def check_mode(mode) -> None:
    if mode is not None and mode not in MODES:
        raise ParameterError(f"quantization must be one of {MODES} or None (full precision), got {mode!r}")


def check_recipe(recipe) -> None:
    if recipe is not None and recipe not in RECIPES:
        raise ParameterError(f"BitLinear recipe must be one of {RECIPES} or None (plain linear), got {recipe!r}")


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward the identity (the straight-through estimator)."""
    return x + (q - x).detach()


def weight_codes(W: torch.Tensor, mode: str, recipe: str = "bitnet") -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, scale): ``W``'s quantized values (in {-1, +1} or {-1, 0, +1}) and the scale they are used with.

    The effective weight is ``codes * scale`` (for "li2024" ternary, ``codes / s`` with ``scale = 1 / s``; equal
    up to rounding).
    """
    check_mode(mode)
    if recipe == "li2024":
        c = W - W.mean()
        if mode == "binary":
            return torch.sign(c), torch.ones((), dtype=W.dtype, device=W.device)
        s = 1.0 / c.abs().mean().clamp(min=EPS)
        return (c * s).round().clamp(-1, 1), 1.0 / s
    scale = W.abs().mean().clamp_min(EPS)
    if mode == "binary":
        codes = torch.where(W - W.mean() >= 0, 1.0, -1.0).to(W)
    else:
        codes = (W / scale).round().clamp(-1, 1)
    return codes, scale


def li2024_weight(W: torch.Tensor, mode: str) -> torch.Tensor:
    """The anchor's quantized weight, with its operations in its order (``BitLinearBinary.ste`` /
    ``BitLinearTernary.ste`` on ``W - W.mean()``), gradients straight through the quantizer, not the centring."""
    check_mode(mode)
    c = W - W.mean()
    if mode == "binary":
        q = torch.sign(c)
    else:
        s = 1.0 / c.abs().mean().clamp(min=EPS)
        q = (c * s).round().clamp(-1, 1) / s
    return (q - c).detach() + c


def quantize_weight(W: torch.Tensor, mode: str | None, recipe: str = "bitnet") -> torch.Tensor:
    """The effective weight (``W`` itself for full precision), gradients straight through."""
    if mode is None:
        return W
    if recipe == "li2024":
        return li2024_weight(W, mode)
    codes, scale = weight_codes(W.detach(), mode)
    return ste(W, codes * scale)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """x / rms(x) over the last dimension (no gain)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


def li2024_rms_norm(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """The anchor's ``RMSNorm`` (``bitnet/bit_transformer.py``): ``F.normalize(x) * gain * sqrt(d)``, a learnable
    gain initialized to ones."""
    return F.normalize(x, dim=-1) * gain * math.sqrt(x.shape[-1])


def quantize_activations(x: torch.Tensor) -> torch.Tensor:
    """8-bit absmax quantization per row (last dimension), gradients straight through."""
    gamma = x.detach().abs().amax(-1, keepdim=True).clamp_min(EPS)
    q = (x.detach() * ACT_LEVELS / gamma).round().clamp(-ACT_LEVELS, ACT_LEVELS) * gamma / ACT_LEVELS
    return ste(x, q)


def resolve_recipe(mode: str | None, recipe: str | None) -> str | None:
    """The recipe in force: ``recipe`` when given, else "bitnet" for a quantized layer and None (plain) otherwise."""
    check_recipe(recipe)
    return recipe if recipe is not None else ("bitnet" if mode is not None else None)


class _NormQuant(torch.autograd.Function):
    """``quantize_activations(rms_norm(x))`` as one autograd node: the same forward value (to the last bit of the
    rescaling), and the backward of the RMS norm alone (the quantizer's is the identity),
    ``r * (g - n * mean(g * n))`` with ``n = x * r``, ``r = 1 / sqrt(mean(x^2) + eps)``. Autograd of the two
    functions records some 20 operations over the activation, each a pass over a [batch, width] tensor; this is
    five passes forward and three backward (``tests/test_bitlinear.py`` checks values and gradients against the
    composition)."""

    @staticmethod
    def forward(ctx, x):
        r = torch.linalg.vector_norm(x, dim=-1, keepdim=True).pow_(2).div_(x.shape[-1]).add_(EPS).rsqrt_()
        n = x * r
        gamma = n.abs().amax(-1, keepdim=True).clamp_min_(EPS)
        # |n| * 127 / gamma <= 127 by gamma's definition: quantize_activations' clamp never acts
        q = (n * (ACT_LEVELS / gamma)).round_().mul_(gamma / ACT_LEVELS)
        ctx.save_for_backward(n, r)
        return q

    @staticmethod
    def backward(ctx, g):
        n, r = ctx.saved_tensors
        mean_gn = torch.linalg.vecdot(g, n).unsqueeze_(-1).div_(n.shape[-1])
        return torch.addcmul(g, n, mean_gn, value=-1).mul_(r)


def bit_input(x: torch.Tensor, recipe: str | None) -> torch.Tensor:
    """What a layer multiplies: for the "bitnet" recipe ``x`` normalized and quantized to 8 bits
    (``quantize_activations(rms_norm(x))``, computed as one node), else ``x``."""
    return _NormQuant.apply(x) if recipe == "bitnet" else x


def bit_linear(x: torch.Tensor, W: torch.Tensor, mode: str | None, recipe: str | None = None) -> torch.Tensor:
    """``x @ W`` through a layer of ``recipe`` (``resolve_recipe``) with weight quantizer ``mode``."""
    recipe = resolve_recipe(mode, recipe)
    return bit_input(x, recipe) @ quantize_weight(W, mode, recipe or "bitnet")
