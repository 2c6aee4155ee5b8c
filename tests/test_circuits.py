"""toyinterp.circuits on small inputs whose answer is known."""
import math

import pytest
import torch

from toyinterp import circuits
from toyinterp.models import Transformer, TransformerConfig
from toyinterp.tasks import MinOfTwo


def _paths(n_vocab=4, n_out=3, n_ctx=3, heads=1):
    return circuits.Paths(ov=torch.zeros(heads, n_vocab, n_out), pos=torch.zeros(heads, n_ctx, n_out),
                          direct=torch.zeros(n_vocab, n_out), direct_pos=torch.zeros(n_out))


def test_path_logits_of_a_pure_copy_are_the_attention_on_each_token():
    paths = _paths()
    paths.ov[0, :3, :3] = torch.eye(3)
    tokens = torch.tensor([[0, 2, 3], [1, 1, 3]])
    pattern = torch.tensor([[[0.7, 0.2, 0.1]], [[0.5, 0.5, 0.0]]])
    expected = torch.tensor([[0.7, 0.0, 0.2], [0.0, 1.0, 0.0]])
    assert torch.allclose(paths.logits(tokens, pattern), expected)


def test_direct_and_positional_paths_add():
    paths = _paths()
    paths.direct[3] = torch.tensor([1.0, 2.0, 3.0])  # token 3 at the query position
    paths.direct_pos += 10.0
    paths.pos[0, 1] = torch.tensor([0.0, 4.0, 0.0])  # key position 1 writes 4 on class 1 when attended
    tokens = torch.tensor([[0, 2, 3]])
    pattern = torch.tensor([[[0.0, 0.5, 0.5]]])
    assert torch.allclose(paths.logits(tokens, pattern), torch.tensor([[11.0, 14.0, 13.0]]))
    ablated = paths.ablate("direct", "direct_pos")
    assert torch.allclose(ablated.logits(tokens, pattern), torch.tensor([[0.0, 2.0, 0.0]]))
    assert paths.direct_pos[0] == 10.0  # ablate returns a copy


@pytest.fixture(scope="module")
def small_bridge():
    """A 2-head attention-only model with non-zero positional embeddings, trained a few steps."""
    torch.manual_seed(0)
    task = MinOfTwo(max_num=9)
    cfg = TransformerConfig.for_task(task, d_model=8, n_heads=2, d_head=4, attn_only=True, seed=0)
    model = Transformer.init(cfg)
    with torch.no_grad():
        model.W_pos.normal_()
        model.W_V.mul_(3.0)
    return task, model, model.to_bridge()


def test_paths_reproduce_the_models_logits(small_bridge):
    task, model, bridge = small_bridge
    paths = circuits.Paths.of(bridge)
    assert paths.ov.shape == (2, 10, 9) and paths.pos.shape == (2, 3, 9)
    pattern = circuits.last_pattern(bridge, task.tokens)
    with torch.no_grad():
        ref = bridge(task.tokens)[:, -1]
    assert (paths.logits(task.tokens, pattern) - ref).abs().max() < 1e-4
    assert (paths.logits(task.tokens, pattern) - model(task.tokens)).abs().max() < 1e-4
    # the full OV circuit is W_E W_V W_O W_U, per head
    dense = bridge.W_E @ bridge.W_V[0, 1] @ bridge.W_O[0, 1] @ bridge.W_U
    assert torch.allclose(paths.ov[1], dense, atol=1e-5)
    assert torch.allclose(circuits.full_ov(bridge, head=1).AB, dense, atol=1e-5)


def test_paths_refuse_a_model_with_biases(small_bridge):
    _, _, bridge = small_bridge
    import copy
    b = copy.deepcopy(bridge)
    sd = b.state_dict()
    key = next(k for k in sd if k.endswith(".bias"))
    sd[key] = sd[key] + 1.0
    b.load_state_dict(sd)
    with pytest.raises(ValueError, match="bias"):
        circuits.Paths.of(b)


def test_copy_scale_of_a_shifted_scaled_identity():
    ov = 3.0 * torch.eye(5) + 1.5
    assert circuits.copy_scale(ov, 5) == pytest.approx(3.0)
    assert circuits.copy_scale(torch.ones(5, 5), 5) == pytest.approx(0.0)
    ident = circuits.scaled_identity(torch.zeros(6, 5), 5, 2.0)
    assert torch.equal(ident[:5], 2.0 * torch.eye(5)) and torch.count_nonzero(ident[5]) == 0


def test_diagonal_only_and_diagonal_ablated():
    ov = torch.arange(16.0).reshape(4, 4)
    d = circuits.diagonal_only(ov, 4)
    assert torch.equal(d, torch.diag(torch.tensor([0.0, 5.0, 10.0, 15.0])))
    a = circuits.diagonal_ablated(ov, 4)
    # row 0 is 0, 1, 2, 3: its diagonal becomes (1 + 2 + 3) / 3 = 2; off-diagonal entries are kept
    # and row 3 is 12, 13, 14, 15: its diagonal becomes 13
    assert a[0, 0] == 2.0 and a[3, 3] == 13.0 and a[0, 1] == 1.0 and a[3, 0] == 12.0
    assert circuits.copy_scale(a, 4) == pytest.approx(0.0, abs=1e-6)  # no copy margin left


def test_random_like_matches_the_row_centred_norm_and_is_seeded():
    ov = torch.randn(7, 6)
    r = circuits.random_like(ov, 6, seed=3)
    assert torch.count_nonzero(r[6]) == 0
    target = circuits.row_centred(ov[:6, :6]).norm()
    assert r[:6].norm() == pytest.approx(float(target), rel=1e-5)
    assert r[:6].mean(-1).abs().max() < 1e-6  # row-centred
    assert torch.equal(r, circuits.random_like(ov, 6, seed=3))
    assert not torch.equal(r, circuits.random_like(ov, 6, seed=4))


def test_one_hot_pattern_and_scores():
    p = circuits.one_hot_pattern(torch.tensor([0, 2]), n_ctx=3)
    assert torch.equal(p, torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]]]))
    logits = torch.tensor([[0.0, 0.0], [5.0, 0.0]])
    loss, acc = circuits.loss_acc(logits, torch.tensor([0, 1]))
    assert acc == 0.5
    assert loss == pytest.approx((math.log(2) + math.log1p(math.exp(5.0))) / 2)
    loss, acc = circuits.prior_baseline(torch.tensor([0, 0, 0, 1]), 3)
    assert acc == 0.75 and loss == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_predictions_are_the_argmax_of_the_last_logits_whatever_the_chunk():
    from toyinterp.circuits import predictions

    class Last(torch.nn.Module):  # a stand-in model: logits [rows, classes] from tokens [rows, n_ctx]
        def forward(self, tokens):
            return torch.nn.functional.one_hot(tokens.sum(-1) % 7, 7).float()

    tokens = torch.randint(0, 50, (103, 3), generator=torch.Generator().manual_seed(0))
    want = tokens.sum(-1) % 7
    assert torch.equal(predictions(Last(), tokens), want)
    assert torch.equal(predictions(Last(), tokens, chunk=10), want)  # 11 chunks, the last one short
