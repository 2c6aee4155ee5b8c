"""The dihedral chapter's measures on constructed cases whose answer is known."""
import math

import torch
import torch.nn.functional as F

from toyinterp.groups import (Dihedral, pair_rep_basis, project_rho_ab, readout_decomposition, readout_matrices,
                              rho_ab_restricted_excluded_loss)

G = Dihedral(7)  # irreps: trivial, sign, rho1, rho2, rho3
n = G.order
ab = G.cayley_table().reshape(-1)
c = G.elements
g = G.mul(ab[:, None], G.inv(c)[None, :])  # [n^2, n]: a b c^-1
reps = G.irreps()


def test_pair_rep_basis_is_orthonormal_and_spans_rho_ab():
    Q = pair_rep_basis(G, [1, 2, 4]).double()  # 1 + 4 + 4 columns
    assert Q.shape == (n * n, 9)
    assert torch.allclose(Q.T @ Q, torch.eye(9, dtype=torch.float64), atol=1e-5)
    f = reps[2].rho[ab, 0, 1]  # (a, b) -> rho1(ab)_01
    assert torch.allclose(Q @ (Q.T @ f), f, atol=1e-5)
    assert torch.allclose(pair_rep_basis(G, [3]).double().T @ f, torch.zeros(4, dtype=torch.float64), atol=1e-5)


def test_project_rho_ab_keeps_the_key_part_and_drops_the_constant():
    gen = torch.Generator().manual_seed(0)
    key = pair_rep_basis(G, [2]) @ torch.randn(4, 6, generator=gen)  # [n^2, 6] in rho1(ab)
    other = pair_rep_basis(G, [1, 3]) @ torch.randn(5, 6, generator=gen)
    hidden = key + other + 0.7  # a constant offset, as post-ReLU activations have
    assert torch.allclose(project_rho_ab(hidden, G, [2]), key, atol=1e-5)
    assert torch.allclose(hidden - project_rho_ab(hidden, G, [2]), other + 0.7, atol=1e-5)


def test_restricted_and_excluded_loss_on_a_gcr_network():
    # hidden = the entries of rho1(ab); W_out[(i, j), c] = rho1(c)_ij, so logits = s tr(rho1(ab) rho1(c)^T)
    # = s chi1(a b c^-1), largest at c = ab (rho1 of D_n is faithful). Junk in rho2(ab) read out at random.
    s = 5.0
    gen = torch.Generator().manual_seed(1)
    key = reps[2].rho[ab].reshape(n * n, 4).float()
    junk = reps[3].rho[ab].reshape(n * n, 4).float()
    hidden = torch.cat([key, junk], 1)
    W_out = torch.cat([s * reps[2].rho.reshape(n, 4).T.float(), torch.randn(4, n, generator=gen)], 0)
    train = torch.randperm(n * n, generator=gen)[: n * n // 2]
    restricted, excluded = rho_ab_restricted_excluded_loss(hidden, W_out, ab, train, G, [2])
    clean = F.cross_entropy((s * reps[2].chi[g]).double(), ab)
    junk_logits = (junk @ W_out[4:]).double()
    assert math.isclose(restricted, float(clean), rel_tol=1e-5) and restricted < 0.1
    assert math.isclose(excluded, float(F.cross_entropy(junk_logits[train], ab[train])), rel_tol=1e-5)
    # without junk, the excluded part is zero: uniform logits, loss exactly ln|G|
    _, excluded0 = rho_ab_restricted_excluded_loss(key, W_out[:4], ab, train, G, [2])
    assert math.isclose(excluded0, math.log(n), rel_tol=1e-6)


def test_readout_decomposition_on_known_readouts():
    chi = sum(reps[i].chi[g] for i in (2, 3)).float()  # GCR with two key irreps: the trace form
    d = readout_decomposition(chi, G, [2, 3])
    assert all(math.isclose(v, 1.0, abs_tol=1e-5) for v in d.values()), d
    P = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)  # rank one: <e0, rho(g) e0>
    coset = torch.einsum("ij,xyji->xy", P, reps[2].rho[g])
    d = readout_decomposition(coset, G, [2])
    assert math.isclose(d["function_of_abc^-1"], 1.0, abs_tol=1e-5)
    assert math.isclose(d["character"], 0.5, abs_tol=1e-5)  # the trace holds half of a rank-one F
    F_ = readout_matrices(coset, G, [2])[2]
    assert torch.allclose(F_ / F_.norm(), P, atol=1e-6)
    cross = (reps[2].rho[ab, 0, 0][:, None] * reps[3].rho[c, 0, 0][None, :]).float()  # rho1(ab) read into rho2(c)
    d = readout_decomposition(cross, G, [2, 3])
    assert d["rho_ab"] > 0.999 and d["same_irrep"] < 1e-6 and d["character"] < 1e-6
    twisted = (reps[2].rho[ab, 0, 0][:, None] * reps[2].rho[c, 1, 1][None, :]).float()  # same irrep, not abc^-1
    d = readout_decomposition(twisted, G, [2])
    assert d["same_irrep"] > 0.999 and d["function_of_abc^-1"] < 0.5


def test_ablate_clusters_keep_remove_and_random_other():
    from toyinterp.groups import ablate_clusters, random_other_irreps, rep_basis
    basis = rep_basis(G)
    col = basis[2][0] + basis[3][1] + 0.5  # rho1 + rho2 + a constant
    T = torch.stack([col, col], 1)  # neuron 0 ablated, neuron 1 untouched
    W = T.T.clone()
    which = torch.tensor([2, -1])
    Ta, Tb, Wo = ablate_clusters(T, T, W, G, which, "keep")
    assert torch.allclose(Ta[:, 0], basis[2][0] + 0.5, atol=1e-5) and torch.equal(Ta[:, 1], T[:, 1])
    assert torch.allclose(Wo[0], basis[2][0] + 0.5, atol=1e-5) and torch.equal(Wo[1], W[1])
    Ta, _, _ = ablate_clusters(T, T, W, G, which, "remove")
    assert torch.allclose(Ta[:, 0], basis[3][1] + 0.5, atol=1e-5)
    best = torch.tensor([1, 2, 3, 4] * 50)
    other = random_other_irreps(best, len(reps), seed=0)
    assert (other != best).all() and (other >= 1).all() and (other < len(reps)).all()
    assert set(other[best == 2].tolist()) == {1, 3, 4}


def test_logit_trace_similarity():
    from toyinterp.groups import logit_trace_similarity
    logits = reps[2].chi[g].float() + 0.3 * reps[4].chi[g].float()
    assert math.isclose(logit_trace_similarity(logits, G, 2), 1 / math.sqrt(1.09), rel_tol=1e-5)
    assert abs(logit_trace_similarity(logits, G, 3)) < 1e-6


def test_lookup_table_control_fires_one_neuron_per_pair_and_clusters_in_no_irrep():
    from toyinterp.groups import key_irreps, neuron_irrep_shares
    from toyinterp.measures import lookup_table_control

    labels = ab  # the answer of every pair, a-major
    logits, T_a, T_b = lookup_table_control(labels, n, margin=12.0, noise=2.0, seed=0)
    assert logits.shape == (n * n, n) and T_a.shape == T_b.shape == (n, n * n)
    pre = T_a[ab.new_tensor(range(n)).repeat_interleave(n)] + T_b[ab.new_tensor(range(n)).repeat(n)]  # [pairs, neurons]
    assert torch.equal(F.relu(pre), torch.eye(n * n))  # relu(1[a] + 1[b] - 1): each pair's own neuron, alone
    again, _, _ = lookup_table_control(labels, n, margin=12.0, noise=2.0, seed=0)
    assert torch.equal(logits, again)  # seeded
    share = neuron_irrep_shares(T_a, T_b, G)
    assert float(share.max()) < 0.85 and key_irreps(share)[0] == []  # a one-hot input spreads over every irrep


def test_shuffled_irreps_give_each_clustered_neuron_another_ones_label_and_keep_the_counts():
    from toyinterp.measures import shuffled_irreps

    best = torch.tensor([1, 2, 2, 3, 4, 4, 1, 2])
    clustered = torch.tensor([True, True, True, True, True, False, True, False])
    out = shuffled_irreps(best, clustered, seed=0)
    assert torch.equal(out[~clustered], torch.full((2,), -1))
    assert sorted(out[clustered].tolist()) == sorted(best[clustered].tolist())  # the same labels, permuted
    assert torch.equal(shuffled_irreps(best, clustered, seed=0), out)


def test_shrink_clusters_removes_the_own_irreps_squared_norm_spread_over_all():
    from toyinterp.groups import project_irreps
    from toyinterp.measures import shrink_clusters

    gen = torch.Generator().manual_seed(0)
    T_a, T_b, W_out = torch.randn(n, 3, generator=gen), torch.randn(n, 3, generator=gen), torch.randn(3, n, generator=gen)
    irrep_of = torch.tensor([2, -1, 3])
    A, B, W = shrink_clusters(T_a, T_b, W_out, G, irrep_of)
    assert torch.equal(A[:, 1], T_a[:, 1]) and torch.equal(W[1], W_out[1])  # unlabelled neuron untouched
    for old, new, k in ((T_a[:, 0], A[:, 0], 2), (T_b[:, 2], B[:, 2], 3), (W_out[0], W[0], 2)):
        const = project_irreps(old[:, None], G, [0])[:, 0]
        removed = (old - const).pow(2).sum() - (new - const).pow(2).sum()
        own = project_irreps(old[:, None], G, [k])[:, 0].pow(2).sum()
        assert torch.allclose(removed, own, rtol=1e-4)  # as much squared norm as removing the own irrep takes
        assert torch.allclose(project_irreps(new[:, None], G, [0]), project_irreps(old[:, None], G, [0]), atol=1e-6)
