import pytest
import torch

from toyinterp.groups import Cyclic, Dihedral, key_irreps, neuron_irrep_shares, rep_basis
from toyinterp.params import ParameterError

GROUPS = [Cyclic(1), Cyclic(5), Cyclic(8), Dihedral(3), Dihedral(4), Dihedral(7), Dihedral(10)]


@pytest.mark.parametrize("G", GROUPS, ids=lambda G: G.name)
def test_group_axioms(G):
    T = G.cayley_table()
    e = G.elements
    identity = [g for g in e if torch.equal(T[g], e)]
    assert len(identity) == 1
    # every row and column is a permutation; inverses; associativity
    assert all(torch.equal(T[g].sort().values, e) and torch.equal(T[:, g].sort().values, e) for g in e)
    assert torch.equal(T[e, G.inv(e)], torch.full_like(e, int(identity[0])))
    assert torch.equal(T[T[:, :, None], e[None, None, :]],  # (gh)k == g(hk)
                       T[e[:, None, None], T[None, :, :]])


@pytest.mark.parametrize("G", GROUPS, ids=lambda G: G.name)
def test_every_irrep_is_a_homomorphism(G):
    T = G.cayley_table()
    for rep in G.irreps():
        lhs = rep.rho[T]  # rho(gh) [order, order, d, d]
        rhs = rep.rho[:, None] @ rep.rho[None, :]
        assert torch.allclose(lhs, rhs, atol=1e-9), rep.name


@pytest.mark.parametrize("G", GROUPS, ids=lambda G: G.name)
def test_characters_are_orthonormal_and_dimensions_add_up(G):
    reps = G.irreps()
    chi = torch.stack([r.chi.to(torch.complex128) for r in reps])  # [n_irreps, order]
    gram = chi @ chi.conj().T / G.order
    assert torch.allclose(gram, torch.eye(len(reps), dtype=torch.complex128), atol=1e-9)
    assert sum(r.dim ** 2 for r in reps) == G.order


def test_dihedral_relations():
    G = Dihedral(5)
    r, s = torch.tensor(1), torch.tensor(5)
    assert int(G.mul(G.mul(s, r), s)) == int(G.inv(r))  # s r s = r^-1
    assert G.order == 10 and len(G.irreps()) == 4  # trivial, sign, rho1, rho2


@pytest.mark.parametrize("make, n", [(Dihedral, 2), (Dihedral, 0), (Cyclic, 0), (Dihedral, 3.5)])
def test_bad_n_is_rejected(make, n):
    with pytest.raises(ParameterError):
        make(n)


def test_neuron_irrep_shares_and_key_irrep_rule():
    G = Dihedral(7)
    basis = rep_basis(G)  # irreps: trivial, sign, rho1, rho2, rho3
    # 10 neurons in rho2 (with a constant offset, which is ignored), 5 in sign, 1 mixed evenly over rho1 and rho3
    cols = [basis[3][0] * 2 + 0.3 for _ in range(10)] + [basis[1][0] for _ in range(5)] + [basis[2][1] + basis[4][2]]
    T = torch.stack(cols, 1)
    share = neuron_irrep_shares(T, torch.zeros_like(T), G)
    assert torch.allclose(share.sum(0), torch.ones(16)) and (share[0] == 0).all()
    keys, best, clustered = key_irreps(share, clustered_at=0.85, min_share=0.2)
    assert keys == [1, 3]
    assert clustered[:15].all() and not clustered[15]
    assert (best[:10] == 3).all() and (best[10:15] == 1).all()
