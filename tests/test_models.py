import pytest
import torch

from toyinterp.models import Transformer, TransformerConfig, boot_bridge
from toyinterp.tasks import MinOfTwo, ModularAddition
from toyinterp.train import TrainConfig, train


def test_init_is_boot_natives_weights_for_the_seed():
    task = ModularAddition(p=113)
    cfg = TransformerConfig.for_task(task, seed=999)
    model = Transformer.init(cfg)
    ref = boot_bridge(cfg).state_dict()
    for key, value in model.bridge_state().items():
        assert torch.equal(value, ref[key]), key
    other = Transformer.init(TransformerConfig.for_task(task, seed=1))
    assert not torch.equal(other.W_E, model.W_E)


def _max_logit_diff(model, task) -> float:
    bridge = model.to_bridge()
    with torch.no_grad():
        return (bridge(task.tokens)[:, -1] - model(task.tokens)).abs().max().item()


def test_logits_agree_with_the_bridge_on_all_p_squared_rows():
    task = ModularAddition(p=113)
    model = Transformer.init(TransformerConfig.for_task(task))
    assert _max_logit_diff(model, task) < 1e-4
    # ... and after training has moved the weights far from initialization
    train(model, task, TrainConfig(steps=50, eval_every=25), progress=False)
    assert _max_logit_diff(model, task) < 1e-4


def test_attention_only_variant_agrees_with_the_bridge():
    task = MinOfTwo(max_num=50)
    model = Transformer.init(TransformerConfig.for_task(task, d_model=32, n_heads=1, d_head=32, attn_only=True,
                                                        freeze_pos=True, seed=0))
    assert torch.count_nonzero(model.W_pos) == 0 and not model.W_pos.requires_grad
    train(model, task, TrainConfig(steps=20, eval_every=10), progress=False)
    assert torch.count_nonzero(model.W_pos) == 0
    assert _max_logit_diff(model, task) < 1e-4


def test_run_with_cache_gives_the_usual_keys():
    task = ModularAddition(p=23)
    cfg = TransformerConfig.for_task(task, d_mlp=64)
    bridge = Transformer.init(cfg).to_bridge()
    logits, cache = bridge.run_with_cache(task.tokens[:10])
    assert cache["pattern", 0].shape == (10, cfg.n_heads, 3, 3)
    assert cache["post", 0].shape == (10, 3, cfg.d_mlp)
    assert "blocks.0.attn.hook_pattern" in cache and "blocks.0.mlp.hook_post" in cache
    assert bridge.W_E.shape == (24, cfg.d_model) and bridge.OV.shape[-2:] == (cfg.d_model, cfg.d_model)
    # the attention pattern of the '=' position sums to one over the three tokens
    assert torch.allclose(cache["pattern", 0][:, :, -1].sum(-1), torch.ones(10, cfg.n_heads))


def test_default_config_is_untouched_by_the_bitlinear_options():
    # the grokking chapter's model: plain layers, no norm, TransformerLens's scale, no extra parameters
    cfg = TransformerConfig.for_task(ModularAddition(p=23), d_mlp=64)
    assert cfg.recipe is None and cfg.attn_scale is None and not cfg.final_norm
    names = {n for n, _ in Transformer.init(cfg).named_parameters()}
    assert names == {"W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_in", "W_out", "W_U"}


def test_fused_path_is_the_same_function_as_the_plain_one():
    # the grokking model takes the fused path (one last token for every row); a hook on resid_mid, or rows
    # with different last tokens, take the plain one: same logits and gradients to float precision
    task = ModularAddition(p=23)
    model = Transformer.init(TransformerConfig.for_task(task, d_mlp=64, seed=5))
    train(model, task, TrainConfig(steps=30, eval_every=10), progress=False)
    x, y = task.train_data()
    assert model._fused(x) and not model._fused(torch.cat([x[:5], x[5:].flip(1)]))

    def logits_and_grads(hooked: bool):
        model.zero_grad()
        if hooked:
            model.blocks[0].hook_resid_mid.add_hook(lambda t, hook: t)
        logits = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        model.reset_hooks()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    fused, plain = logits_and_grads(False), logits_and_grads(True)
    assert (fused[0] - plain[0]).abs().max() < 1e-5
    for name in fused[1]:
        assert torch.allclose(fused[1][name], plain[1][name], rtol=1e-4, atol=1e-6), name
    mixed = torch.cat([x[:5], x[5:, [1, 0, 2]]])  # other rows still work on the plain path
    assert model(mixed).shape == (len(mixed), task.d_vocab_out)


def test_nanda2023_init_follows_the_papers_scales_and_the_seed():
    import math

    import pytest

    from toyinterp import measures
    from toyinterp.params import ParameterError

    task = ModularAddition(p=23, frac_train=0.3, data_seed=1)
    cfg = TransformerConfig.for_task(task, d_model=64, n_heads=2, d_head=16, d_mlp=256, seed=5, init="nanda2023")
    a, b = cfg.build(), cfg.build()
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))  # same seed, same weights
    other = TransformerConfig.for_task(task, d_model=64, n_heads=2, d_head=16, d_mlp=256, seed=6, init="nanda2023")
    assert not torch.equal(a.W_in, other.build().W_in)
    # every matrix has std 1/sqrt(d_model) but W_U, whose std is 1/sqrt(d_vocab_out)
    assert abs(a.W_in.std().item() * math.sqrt(64) - 1) < 0.02
    assert abs(a.W_U.std().item() * math.sqrt(cfg.d_vocab_out) - 1) < 0.1
    # its sum of squares is the paper's expectation, about twice boot_native's draw
    total, expected = measures.weight_norm(a), measures.nanda_init_weight_norm(cfg)
    assert abs(total / expected - 1) < 0.03
    native = TransformerConfig.for_task(task, d_model=64, n_heads=2, d_head=16, d_mlp=256, seed=5).build()
    assert measures.weight_norm(native) < 0.7 * total
    with pytest.raises(ParameterError, match="init must be one of"):
        TransformerConfig(init="xavier")


@pytest.mark.parametrize("kind", ["bitnet full precision", "li2024 ternary", "attention only"])
def test_one_shared_query_is_the_same_function_as_per_row_queries(kind):
    # every row ends in '=': forward computes one query and a table of scores; a batch with one other last token
    # takes the per-row queries and keys. The shared rows' logits and gradients must agree. (Not asked of the
    # "bitnet" recipe's binary/ternary models: their 8-bit activations are sums of lattice values that often fall
    # on a rounding tie, which the last bit of either order decides.)
    task = ModularAddition(p=23)
    cfg = {"bitnet full precision": TransformerConfig.for_task(task, d_mlp=64, bitlinear="bitnet", final_norm=True,
                                                                seed=3),
           "li2024 ternary": TransformerConfig.li2024(task, "ternary", d_mlp=64, seed=3),
           "attention only": TransformerConfig.for_task(task, attn_only=True, seed=3)}[kind]
    model = Transformer.init(cfg)
    x, y = task.train_data()
    odd = torch.cat([x, x[:1].clone().fill_(0)])  # one row whose last token is not '='

    def logits_and_grads(tokens):
        model.zero_grad()
        logits = model(tokens)[: len(y)]
        torch.nn.functional.cross_entropy(logits, y).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    shared, per_row = logits_and_grads(x), logits_and_grads(odd)
    assert (shared[0] - per_row[0]).abs().max() < 1e-4
    assert shared[1].keys() == per_row[1].keys()
    for name in shared[1]:
        assert torch.allclose(shared[1][name], per_row[1][name], rtol=1e-3, atol=1e-5), name
