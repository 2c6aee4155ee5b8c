"""The analysis tools on small inputs whose answer is known."""
import math

import pytest
import torch

from toyinterp import circuits, fourier, measures
from toyinterp.groups import Dihedral, character_fit, character_table, irrep_fractions, project_irreps, rep_basis
from toyinterp.mlp import MLP, MLPConfig, cosine_network
from toyinterp.tasks import GroupComposition, ModularAddition
from toyinterp.train import evaluate

P = 23


def test_fourier_basis_is_orthonormal_in_1d_and_2d():
    B, names = fourier.fourier_basis(P)
    assert torch.allclose(B @ B.T, torch.eye(P), atol=1e-5) and names[:3] == ["const", "cos 1", "sin 1"]
    B2 = torch.einsum("ia,jb->ijab", B, B).reshape(P * P, P * P)
    assert torch.allclose(B2 @ B2.T, torch.eye(P * P), atol=1e-4)


def test_a_pure_cosine_has_all_its_energy_at_its_frequency():
    x = torch.arange(P).float()
    w = torch.stack([torch.cos(2 * math.pi * 5 * x / P + 0.3), 2 * torch.sin(2 * math.pi * 9 * x / P)], 1)
    norms = fourier.freq_norms(w[:, :1], 0)
    assert int(norms.argmax()) + 1 == 5 and norms[4] ** 2 / norms.pow(2).sum() > 0.9999
    assert fourier.key_frequencies(fourier.freq_norms(w, 0), 0.1) == [5, 9]


def test_neuron_fve_of_a_single_frequency_neuron_is_one():
    a = torch.arange(P).float()[:, None]
    b = torch.arange(P).float()[None, :]
    w = 2 * math.pi * 4 / P
    acts = torch.stack([torch.relu(torch.cos(w * a) + torch.cos(w * b)),  # frequency 4 and its harmonics
                        torch.cos(w * (a + b))], -1)
    fve = fourier.neuron_freq_fve(acts)
    assert fve[1, 3] > 0.9999  # cos(w(a+b)) is all frequency 4
    freq, best, clustered = fourier.neuron_clusters(acts[..., 1:])
    assert int(freq[0]) == 4 and bool(clustered[0])


def test_key_frequencies_by_vote_keeps_frequencies_with_enough_voters_and_ignores_dead_neurons():
    a = torch.arange(P).float()[:, None, None]
    b = torch.arange(P).float()[None, :, None]
    phase = torch.linspace(0, 3, 20)[None, None]
    w = lambda k: 2 * math.pi * k / P  # noqa: E731
    acts = torch.cat([torch.relu(torch.cos(w(5) * a + phase) + torch.cos(w(5) * b)),  # 20 neurons at 5
                      torch.cos(w(9) * (a + b) + phase),  # 20 at 9
                      (torch.cos(w(2) * a) + 0 * b),  # 1 neuron at 2: below 5 % of 42
                      torch.zeros(P, P, 1)], -1)  # a dead neuron votes for nothing
    assert fourier.key_frequencies_by_vote(acts) == [5, 9]
    assert fourier.key_frequencies_by_vote(acts, min_share=0.0) == [2, 5, 9]  # the paper code's np.unique


def test_clustered_key_frequencies_drop_votes_no_cluster_carries():
    """A frequency counts only where neurons are explained by it (FVE > 0.85): neurons that lean to frequency 5
    but are mostly noise (a memorizing model's) vote for it, and carry nothing."""
    a = torch.arange(P).float()[:, None, None]
    b = torch.arange(P).float()[None, :, None]
    phase = torch.linspace(0, 3, 20)[None, None]
    w = lambda k: 2 * math.pi * k / P  # noqa: E731
    noise = torch.randn(P, P, 20, generator=torch.Generator().manual_seed(0))
    acts = torch.cat([torch.cos(w(9) * (a + b) + phase),  # 20 neurons all frequency 9
                      torch.cos(w(5) * (a + b) + phase) + 2 * noise], -1)  # 20 that lean to 5
    assert fourier.key_frequencies_by_vote(acts) == [5, 9]
    assert fourier.clustered_key_frequencies(acts) == [9]


def test_neuron_key_fve_adds_up_the_frequencies_it_is_given():
    a = torch.arange(P).float()[:, None]
    b = torch.arange(P).float()[None, :]
    w3, w5 = 2 * math.pi * 3 / P, 2 * math.pi * 5 / P
    acts = (torch.cos(w3 * (a + b)) + torch.sin(w5 * a))[..., None]  # two frequencies, equal variance
    assert fourier.neuron_freq_fve(acts).max() < 0.51  # no single frequency explains it: not "clustered"
    assert measures.neuron_key_fve(acts, [3, 5]).item() == pytest.approx(1.0, abs=1e-4)
    assert measures.neuron_key_fve(acts, [3]).item() == pytest.approx(0.5, abs=1e-4)
    assert measures.neuron_key_fve(acts, [7]).item() == pytest.approx(0.0, abs=1e-4)


def test_no_key_frequencies_restrict_to_the_class_means_and_exclude_nothing():
    logits = torch.randn(P * P, P)
    assert torch.allclose(measures.excluded_logits(logits, P, []), logits)
    assert torch.allclose(measures.restricted_logits(logits, P, []), logits.mean(0, keepdim=True).expand_as(logits))
    assert fourier.cos_logit_fit(logits, P, [])[0] == 0.0


def test_cosine_fit_recovers_frequency_phase_amplitude_offset():
    x = torch.arange(P).float()
    W = torch.stack([1.5 * torch.cos(2 * math.pi * 7 * x / P + 1.0) + 0.2,
                     0.5 * torch.cos(2 * math.pi * 3 * x / P - 2.0) - 1.0], 1)
    fit = fourier.fit_cosines(W)
    assert fit.freq.tolist() == [7, 3]
    assert torch.allclose(fit.amp, torch.tensor([1.5, 0.5]), atol=1e-4)
    assert torch.allclose(fit.offset, torch.tensor([0.2, -1.0]), atol=1e-4)
    assert fourier.circular_distance(fit.phase, torch.tensor([1.0, -2.0])).max() < 1e-4
    assert fit.r2.min() > 0.9999 and torch.allclose(fit.curves(P), W, atol=1e-4)


def test_cos_logit_fit_of_exact_cosine_logits():
    a = torch.arange(P).repeat_interleave(P)[:, None].float()
    b = torch.arange(P).repeat(P)[:, None].float()
    c = torch.arange(P)[None].float()
    L = 3 * torch.cos(2 * math.pi * 2 * (a + b - c) / P) + torch.cos(2 * math.pi * 5 * (a + b - c) / P)
    fve, alpha, fitted = fourier.cos_logit_fit(L, P, [2, 5])
    assert fve > 0.9999 and torch.allclose(alpha, torch.tensor([3.0, 1.0]), atol=1e-4)
    assert torch.allclose(fitted, L - L.mean(1, keepdim=True), atol=1e-4)
    # restricted logits keep it whole; excluded logits remove it
    assert torch.allclose(measures.restricted_logits(L, P, [2, 5]), L, atol=1e-4)
    assert measures.excluded_logits(L, P, [2, 5]).abs().max() < 1e-4


def test_gini_extremes():
    n = 57
    one_hot = torch.zeros(n)
    one_hot[3] = 2.0
    assert measures.gini(one_hot) == pytest.approx((n - 1) / n)
    assert measures.gini(torch.ones(n)) == pytest.approx(0.0, abs=1e-12)
    assert 0 < measures.gini(torch.arange(n).float()) < (n - 1) / n


def test_spearman_and_diagonal():
    x = torch.arange(10).float()
    assert circuits.spearman(x, -x ** 3) == pytest.approx(-1.0)
    assert circuits.diagonal_top1(torch.eye(5) + 0.1) == 1.0
    assert circuits.diagonal_top1(torch.eye(5).flip(0)) == pytest.approx(0.2)  # only the middle row


def test_mlp_run_with_cache_uses_transformerlens_names():
    model = MLP.init(MLPConfig(d_vocab=P, d_vocab_out=P, d_mlp=16, d_embed=8))
    tokens = ModularAddition(p=P).tokens[:5]
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (5, P)
    assert cache["post", 0].shape == (5, 16) and torch.all(cache["post", 0] >= 0)
    assert torch.allclose(cache["post", 0], torch.relu(cache["pre", 0]))


def test_hand_built_cosine_network_adds():
    task = ModularAddition(p=P)
    _, acc = evaluate(cosine_network(P, 512, seed=0), task.tokens, task.labels)
    assert acc > 0.99


def test_rep_basis_is_orthonormal_and_characters_peak_at_the_product():
    G = Dihedral(5)
    B = torch.cat(rep_basis(G))
    assert B.shape == (G.order, G.order) and torch.allclose(B @ B.T, torch.eye(G.order), atol=1e-5)
    f = torch.randn(G.order, 3)
    assert torch.allclose(irrep_fractions(f, G).sum(0), torch.ones(3), atol=1e-5)
    assert torch.allclose(project_irreps(f, G, list(range(len(rep_basis(G))))), f, atol=1e-5)
    task = GroupComposition(group="D5", frac_train=0.5)
    chi = character_table(G, 2)  # a 2-D irrep: chi(e) = 2 is its maximum
    assert torch.equal(chi.argmax(1), task.labels)
    fve, alpha = character_fit(2.0 * chi + 0.5 * character_table(G, 3), G, [2, 3])
    assert fve > 0.9999 and torch.allclose(alpha, torch.tensor([2.0, 0.5]), atol=1e-4)


def _abc(p):
    a = torch.arange(p, dtype=torch.float64).repeat_interleave(p)[:, None]
    b = torch.arange(p, dtype=torch.float64).repeat(p)[:, None]
    c = torch.arange(p, dtype=torch.float64)[None, :]
    return a, b, c


def test_logit_variance_split_separates_the_class_constant_from_the_key_subspace():
    a, b, c = _abc(P)
    w = 2 * math.pi * 3 / P
    key = torch.cos(w * (a + b - c))  # in the key subspace, variance p^3 / 2
    const = torch.cos(2 * math.pi * 5 * c / P).expand(P * P, P)  # a function of c alone, variance p^3 / 2
    split = fourier.logit_variance_split((key + const + 7 * a).float(), P, [3])  # + a per-row constant
    assert split["class_constant"] == pytest.approx(0.5, abs=1e-4)
    assert split["key_sum"] == pytest.approx(0.5, abs=1e-4) and split["rest"] == pytest.approx(0, abs=1e-4)
    assert fourier.logit_variance_split(key.float(), P, [4])["key_sum"] == pytest.approx(0, abs=1e-4)


def test_sum_term_decomposition_tells_a_plus_b_minus_c_from_a_plus_b_plus_c():
    a, b, c = _abc(P)
    w = 2 * math.pi * 3 / P
    d = fourier.sum_term_decomposition(torch.cos(w * (a + b - c)).float(), P, [3])[3]
    assert d["diff"] == pytest.approx(1, abs=1e-4) and d["sum"] == pytest.approx(0, abs=1e-4)
    d = fourier.sum_term_decomposition(torch.sin(w * (a + b - c)).float(), P, [3])[3]  # a phase shift
    assert d["diff"] == pytest.approx(0, abs=1e-4) and d["diff_phase"] == pytest.approx(1, abs=1e-4)
    mixed = 2 * torch.cos(w * (a + b - c)) + torch.cos(w * (a + b + c)) + torch.cos(w * (a + b)) * torch.cos(
        2 * math.pi * 7 * c / P)
    d = fourier.sum_term_decomposition(mixed.float(), P, [3])[3]  # energies 2^2 * 2 : 2 : 1 (two terms each)
    assert (d["diff"], d["sum"], d["other_c"]) == pytest.approx((8 / 11, 2 / 11, 1 / 11), abs=1e-4)


def test_loss_spikes_counts_evaluations_far_above_the_running_minimum():
    steps = [0, 100, 200, 300, 400, 500]
    losses = [1.0, 1e-3, 2e-2, 5e-4, 4e-3, 6e-3]  # 200: 20x the min 1e-3; 400: 8x 5e-4; 500: 12x
    assert measures.loss_spikes(steps, losses) == [200, 500]
    assert measures.loss_spikes(steps, losses, after=300) == [500]


def test_phase_boundaries_come_from_the_train_and_test_curves():
    from toyinterp.train import History

    h = History(step=[0, 100, 200, 300, 400], train_acc=[0.0, 1.0, 1.0, 1.0, 1.0],
                test_loss=[4.8, 30.0, 4.0, 0.1, 1e-3], test_acc=[0.0, 0.0, 0.5, 0.999, 1.0],
                train_loss=[4.8, 1e-3, 1e-3, 1e-4, 1e-5])
    assert measures.phase_boundaries(h, 113) == {"memorization": 100, "circuit_formation": 200, "cleanup": 400}


def test_nanda_init_weight_norm_is_the_expected_sum_of_squares_of_their_draws():
    from toyinterp.models import TransformerConfig

    cfg = TransformerConfig()
    d, v = cfg.d_model, cfg.d_vocab
    torch.manual_seed(0)
    shapes = [((d, v), d), ((cfg.n_ctx, d), d)] + [((cfg.n_heads, cfg.d_head, d), d)] * 3 + [
        ((d, cfg.n_heads * cfg.d_head), d), ((cfg.d_mlp, d), d), ((d, cfg.d_mlp), d), ((d, v), v)]
    drawn = sum(float((torch.randn(s, dtype=torch.float64) / fan ** 0.5).pow(2).sum()) for s, fan in shapes)
    assert measures.nanda_init_weight_norm(cfg) == 1781.0
    assert drawn == pytest.approx(1781.0, rel=0.03)


def test_error_offsets_count_the_wrong_answers_by_their_distance_from_the_right_one():
    p = 7
    labels = torch.tensor([0, 1, 2, 3, 6])
    pred = torch.tensor([0, 4, 2, 6, 2])  # right, +3, right, +3, -4 = +3 mod 7
    logits = torch.nn.functional.one_hot(pred, p).float()
    assert measures.error_offsets(logits, labels, p) == {3: 3}
    assert measures.error_offsets(torch.nn.functional.one_hot(labels, p).float(), labels, p) == {}
    pred[0] = 6  # one more wrong row, at -1
    assert measures.error_offsets(torch.nn.functional.one_hot(pred, p).float(), labels, p) == {3: 3, 6: 1}


def test_rank_one_readout_tells_a_rank_one_matrix_from_the_identity():
    u = torch.tensor([[0.6], [0.8]])
    assert measures.rank_one_readout(u @ u.T)
    assert not measures.rank_one_readout(torch.eye(2))
    assert not measures.rank_one_readout(torch.ones(1, 1))  # a 1-D irrep has no coset readout


def test_logit_map_is_what_the_forward_pass_multiplies():
    """W_L of a plain model is W_out W_U; of the BitNet anchor's model, its quantized W_out times W_U with the
    final norm's gain folded in."""
    from toyinterp.models import TransformerConfig

    task = ModularAddition(p=13, frac_train=0.5, data_seed=0)
    dims = dict(d_model=16, n_heads=2, d_head=8, d_mlp=32)
    plain = TransformerConfig.for_task(task, **dims).build()
    assert torch.equal(measures.logit_map(plain), plain.W_out @ plain.W_U)
    anchor = TransformerConfig.li2024(task, "binary", **dims).build()
    with torch.no_grad():
        anchor.w_ln_final.mul_(torch.linspace(0.5, 2, dims["d_model"]))
    W_L = measures.logit_map(anchor)
    assert torch.allclose(W_L, anchor.effective("W_out") @ (anchor.W_U * anchor.w_ln_final[:, None]))
    assert not torch.allclose(W_L, anchor.effective("W_out") @ anchor.W_U)
