"""BitLinear: linear layers with 1-bit or 1.58-bit weights, trained through a straight-through estimator.

Two weight quantizers, as the papers define them (``W`` is the latent full-precision weight AdamW updates):

* ``"binary"`` (BitNet, Wang et al. 2023): ``W~ = sign(W - mean(W))`` in {-1, +1}, rescaled by
  ``beta = mean|W|``.
* ``"ternary"`` (BitNet b1.58, Ma et al. 2024): ``W~ = RoundClip(W / (gamma + eps), -1, 1)`` in {-1, 0, +1}
  (absmean quantization), rescaled by ``gamma = mean|W|``.

Activations entering a BitLinear are normalized (an RMS norm without gain: the papers' SubLN before
quantization) and quantized to 8 bits per row by absmax: ``x~ = Clip(round(x * 127 / max|x|), -127, 127)``
rescaled back by ``max|x| / 127``. We compute in this "fake-quantized" form (quantize, then rescale), which
equals the papers' integer product followed by the scale ``beta * gamma_x / 127``.

Gradients pass straight through both quantizers (``x + (q(x) - x).detach()``): the forward value is the
quantized one, the backward is the identity's. ``tests/test_bitlinear.py`` checks the allowed values, the
identity gradient and that the product equals the integer form.
"""
from __future__ import annotations

import torch

from .params import ParameterError

MODES = ("binary", "ternary")
ACT_LEVELS = 127  # 8-bit signed activations
EPS = 1e-5


def check_mode(mode) -> None:
    if mode is not None and mode not in MODES:
        raise ParameterError(f"quantization must be one of {MODES} or None (full precision), got {mode!r}")


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Forward ``q``, backward the identity (the straight-through estimator)."""
    return x + (q - x).detach()


def weight_codes(W: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes, scale): ``W``'s quantized values (in {-1, +1} or {-1, 0, +1}) and the scale they are used with."""
    check_mode(mode)
    scale = W.abs().mean().clamp_min(EPS)
    if mode == "binary":
        codes = torch.where(W - W.mean() >= 0, 1.0, -1.0).to(W)
    else:
        codes = (W / scale).round().clamp(-1, 1)
    return codes, scale


def quantize_weight(W: torch.Tensor, mode: str | None) -> torch.Tensor:
    """The effective weight ``codes * scale`` (``W`` itself for full precision), gradients straight through."""
    if mode is None:
        return W
    codes, scale = weight_codes(W.detach(), mode)
    return ste(W, codes * scale)


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """x / rms(x) over the last dimension (no gain)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)


def quantize_activations(x: torch.Tensor) -> torch.Tensor:
    """8-bit absmax quantization per row (last dimension), gradients straight through."""
    gamma = x.detach().abs().amax(-1, keepdim=True).clamp_min(EPS)
    q = (x.detach() * ACT_LEVELS / gamma).round().clamp(-ACT_LEVELS, ACT_LEVELS) * gamma / ACT_LEVELS
    return ste(x, q)


def bit_input(x: torch.Tensor, mode: str | None) -> torch.Tensor:
    """What a BitLinear multiplies: ``x`` normalized and quantized to 8 bits (``x`` itself at full precision)."""
    return x if mode is None else quantize_activations(rms_norm(x))


def bit_linear(x: torch.Tensor, W: torch.Tensor, mode: str | None) -> torch.Tensor:
    """``x @ W`` for a full-precision layer; for a BitLinear, norm -> 8-bit activations -> quantized ``W``."""
    return bit_input(x, mode) @ quantize_weight(W, mode)
