import pytest
import torch

from toyinterp.bitlinear import ACT_LEVELS, bit_linear, quantize_activations, quantize_weight, rms_norm, weight_codes
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
