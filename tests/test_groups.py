import pytest
import torch

from toyinterp.groups import Cyclic, Dihedral
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
