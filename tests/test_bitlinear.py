import pytest
import torch

import math

from toyinterp.bitlinear import (ACT_LEVELS, bit_input, bit_linear, li2024_rms_norm, quantize_activations,
                                 quantize_weight, rms_norm, weight_codes)
from toyinterp.models import QUANTIZED, TransformerConfig
from toyinterp.params import ParameterError
from toyinterp.tasks import ModularAddition
from toyinterp.train import TrainConfig, train


@pytest.mark.parametrize("mode, allowed", [("binary", {-1.0, 1.0}), ("ternary", {-1.0, 0.0, 1.0})])
def test_quantized_weights_take_only_the_allowed_values(mode, allowed):
    W = torch.randn(64, 48) * 0.3 + 0.05
    codes, scale = weight_codes(W, mode)
    assert set(codes.unique().tolist()) <= allowed
    assert torch.isclose(scale, W.abs().mean())
    eff = quantize_weight(W, mode)
    assert torch.allclose(eff, codes * scale)
    if mode == "ternary":  # absmean rounding: small weights become 0, large ones +-1
        assert (codes[W.abs() < 0.5 * scale] == 0).all() and (codes[W.abs() > 1.5 * scale].abs() == 1).all()
    else:  # sign around the mean
        assert torch.equal(codes, torch.where(W >= W.mean(), 1.0, -1.0))


def test_ste_gradient_is_the_identitys():
    W = torch.randn(16, 8, requires_grad=True)
    x = torch.randn(5, 16)
    g_out = torch.randn(5, 8)
    for mode in ("binary", "ternary"):
        W.grad = None
        (x @ quantize_weight(W, mode)).backward(g_out)
        assert torch.allclose(W.grad, x.T @ g_out)  # as if quantize_weight were the identity
    xa = torch.randn(7, 16, requires_grad=True)
    quantize_activations(xa).sum().backward()
    assert torch.equal(xa.grad, torch.ones_like(xa))


def test_activations_are_8_bit_per_row_and_the_product_equals_the_integer_form():
    x = torch.randn(6, 32) * torch.arange(1, 7)[:, None]
    xq = quantize_activations(x)
    gamma = x.abs().amax(-1, keepdim=True)
    ints = xq * ACT_LEVELS / gamma
    assert torch.allclose(ints, ints.round(), atol=1e-4) and ints.abs().max() <= ACT_LEVELS + 1e-4
    assert (xq - x).abs().max() <= (gamma / ACT_LEVELS).max()
    W = torch.randn(32, 10)
    codes, beta = weight_codes(W, "ternary")
    xn = rms_norm(x)
    g = xn.abs().amax(-1, keepdim=True)
    integer = ((xn * ACT_LEVELS / g).round() @ codes) * beta * g / ACT_LEVELS  # the paper's form
    assert torch.allclose(bit_linear(x, W, "ternary"), integer, atol=1e-4)


def test_quantized_transformer_trains_uses_quantized_weights_and_caches():
    task = ModularAddition(p=23)
    for mode in ("binary", "ternary"):
        cfg = TransformerConfig.for_task(task, d_model=32, n_heads=2, d_head=16, d_mlp=64, quant=mode,
                                         final_norm=True, seed=0)
        model = cfg.build()
        before = train(model, task, TrainConfig(steps=1, eval_every=1), progress=False).train_loss[0]
        hist = train(model, task, TrainConfig(steps=150, eval_every=50), progress=False)
        assert hist.train_loss[-1] < 0.5 * before  # the latent weights learn through the STE
        for name in QUANTIZED:
            codes, _ = weight_codes(getattr(model, name).detach(), mode)
            assert torch.allclose(model.effective(name), codes * getattr(model, name).detach().abs().mean())
        logits, cache = model.run_with_cache(task.tokens[:10])
        assert cache["pattern", 0].shape == (10, 2, 1, 3) and cache["post", 0].shape == (10, 64)
        assert torch.allclose(cache["pattern", 0].sum(-1), torch.ones(10, 2, 1))
        with pytest.raises(ParameterError):
            model.to_bridge()


def test_frozen_embedding_stays_at_its_initialization():
    task = ModularAddition(p=23)
    cfg = TransformerConfig.for_task(task, d_model=32, n_heads=2, d_head=16, d_mlp=64, freeze_embed=True, seed=0)
    model = cfg.build()
    W_E = model.W_E.detach().clone()
    train(model, task, TrainConfig(steps=20, eval_every=10), progress=False)
    assert torch.equal(model.W_E, W_E)


def test_unknown_quantization_mode_is_one_clear_error():
    with pytest.raises(ValueError, match="quantization must be one of"):
        TransformerConfig(quant="int4")


# ---- the BitNet anchor's own recipe (Li 2024) ------------------------------------------------------------------
# Its code, copied verbatim from github.com/jasonlizhengjian/MI_of_binary_transformers, bitnet/bitlinear.py
# (BitLinearBinary.ste / BitLinearTernary.ste, binarize_weights_groupwise with num_groups=1, weight_quant).

def _anchor_binary_ste(x):
    binarized_x = torch.sign(x)
    binarized_x = (binarized_x - x).detach() + x
    return binarized_x


def _anchor_weight_quant(w):
    scale = 1.0 / w.abs().mean().clamp_(min=1e-5)
    u = (w * scale).round().clamp_(-1, 1) / scale
    return u


def _anchor_ternary_ste(x):
    ternarized_x = _anchor_weight_quant(x)
    ternarized_x = (ternarized_x - x).detach() + x
    return ternarized_x


def _anchor_groupwise(weight, ste):
    binarized_weights = torch.zeros_like(weight)
    alpha_g = weight.mean()
    binarized_weights[0:weight.shape[0]] = ste(weight - alpha_g)
    return binarized_weights


@pytest.mark.parametrize("mode, ste_ref", [("binary", _anchor_binary_ste), ("ternary", _anchor_ternary_ste)])
def test_li2024_weights_are_the_anchors_formulas_values_and_gradient(mode, ste_ref):
    torch.manual_seed(0)
    W0 = torch.randn(12, 9) * 0.2 + 0.07  # a non-zero mean: the centring matters
    W = W0.clone().requires_grad_(True)
    ref = W0.clone().requires_grad_(True)
    x, g_out = torch.randn(5, 12), torch.randn(5, 9)
    ours, theirs = quantize_weight(W, mode, "li2024"), _anchor_groupwise(ref, ste_ref)
    assert torch.equal(ours, theirs)  # the same numbers, bit for bit
    (x @ ours).backward(g_out)
    (x @ theirs).backward(g_out)
    assert torch.allclose(W.grad, ref.grad, atol=1e-6)
    g = x.T @ g_out  # the STE passes through the quantizer but not through the (undetached) centring
    assert torch.allclose(W.grad, g - g.mean(), atol=1e-6)
    codes, scale = weight_codes(W0, mode, "li2024")
    c = W0 - W0.mean()
    if mode == "binary":  # sign(W - mean), exactly +-1: no beta rescale
        assert set(codes.unique().tolist()) == {-1.0, 1.0} and scale == 1 and torch.equal(ours, codes)
        assert torch.equal(codes, torch.where(c > 0, 1.0, -1.0))
    else:  # absmean of the *centred* weights, rescaled back
        assert set(codes.unique().tolist()) == {-1.0, 0.0, 1.0}
        assert torch.isclose(scale, c.abs().mean()) and torch.allclose(ours, codes * scale)
        gamma = c.abs().mean()
        assert (codes[c.abs() < 0.5 * gamma] == 0).all() and (codes[c.abs() > 1.5 * gamma].abs() == 1).all()
        # ... which is not the "bitnet" recipe's (uncentred) absmean
        assert not torch.equal(codes, weight_codes(W0, mode)[0])


def test_li2024_layer_has_no_input_norm_nor_activation_quantization():
    x, W = torch.randn(4, 12) * 3, torch.randn(12, 6)
    assert torch.equal(bit_input(x, "li2024"), x) and torch.equal(bit_input(x, None), x)
    assert torch.equal(bit_linear(x, W, "binary", "li2024"), x @ torch.sign(W - W.mean()))
    assert torch.allclose(bit_input(x, "bitnet"), quantize_activations(rms_norm(x)), rtol=1e-6, atol=1e-7)


def test_the_fused_norm_and_quantizer_is_the_composition():
    # bit_input's one autograd node against quantize_activations(rms_norm(x)): same values, same gradients
    x = (torch.randn(64, 48) * torch.logspace(-3, 2, 64)[:, None]).requires_grad_()
    g = torch.randn(64, 48)
    ref = quantize_activations(rms_norm(x))
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    out = bit_input(x, "bitnet")
    (grad,) = torch.autograd.grad(out, x, g)
    assert torch.allclose(out, ref, rtol=1e-6, atol=1e-7)
    assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)
    levels = out * ACT_LEVELS / out.abs().amax(-1, keepdim=True)
    assert (levels - levels.round()).abs().max() < 1e-3  # every value on the 8-bit lattice


def test_li2024_rms_norm_is_the_anchors():
    x, gain = torch.randn(6, 16) * 4, torch.rand(16) + 0.5
    ref = torch.nn.functional.normalize(x, dim=-1) * gain * 16 ** 0.5  # RMSNorm.forward: l2norm(x) * gamma * scale
    assert torch.equal(li2024_rms_norm(x, gain), ref)
    assert torch.allclose(li2024_rms_norm(x, torch.ones(16)), rms_norm(x), atol=1e-4)


def test_fair_control_has_the_quantized_models_inputs_and_full_precision_weights():
    task = ModularAddition(p=23)
    kw = dict(d_model=32, n_heads=2, d_head=16, d_mlp=64, final_norm=True, seed=0)
    control = TransformerConfig.for_task(task, bitlinear="bitnet", **kw).build()
    plain = TransformerConfig.for_task(task, **kw).build()
    binary = TransformerConfig.for_task(task, quant="binary", **kw).build()
    assert control.cfg.recipe == "bitnet" and binary.cfg.recipe == "bitnet" and plain.cfg.recipe is None
    for name in QUANTIZED:
        assert torch.equal(control.effective(name), getattr(control, name))  # weights: full precision
    with torch.no_grad():
        # the control's forward pass is the binary model's with the quantizer replaced by the identity
        for name in QUANTIZED:
            getattr(binary, name).copy_(control.effective(name))
        lc, lp = control(task.tokens), plain(task.tokens)
        assert not torch.allclose(lc, lp, atol=1e-3)  # the norms and 8-bit inputs change the function
        # quantizing the control's inputs changed it by little: the 8-bit activations are fine-grained
        assert (lc - lp).abs().max() > 0


def test_li2024_model_trains_without_positions_and_learns_its_gain():
    task = ModularAddition(p=23)
    for mode in (None, "binary", "ternary"):
        cfg = TransformerConfig.li2024(task, mode, d_model=32, n_heads=2, d_head=16, d_mlp=64, seed=0)
        assert cfg.recipe == "li2024" and cfg.freeze_pos and cfg.attn_scale == 32 ** -0.5
        model = cfg.build()
        assert torch.count_nonzero(model.W_pos) == 0 and torch.equal(model.w_ln_final, torch.ones(32))
        before = train(model, task, TrainConfig(steps=1, eval_every=1), progress=False).train_loss[0]
        hist = train(model, task, TrainConfig(steps=300, eval_every=100), progress=False)
        assert hist.train_loss[-1] < 0.5 * before  # measured: 0.08 (full), 0.81 (binary), 1.10 (ternary) of 3.39
        assert torch.count_nonzero(model.W_pos) == 0 and not torch.equal(model.w_ln_final, torch.ones(32))
        if mode is not None:
            for name in QUANTIZED:
                W = getattr(model, name).detach()
                assert torch.equal(model.effective(name), _anchor_groupwise(W, {"binary": _anchor_binary_ste,
                                                                               "ternary": _anchor_ternary_ste}[mode]))
        with pytest.raises(ParameterError):
            model.to_bridge()


def test_unknown_recipe_is_one_clear_error():
    with pytest.raises(ValueError, match="BitLinear recipe must be one of"):
        TransformerConfig(bitlinear="bitnet-b2")
    with pytest.raises(ValueError, match="final_norm_gain needs"):
        TransformerConfig(final_norm_gain=True)
