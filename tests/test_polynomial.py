import math

import pytest
import torch

from toyinterp import fourier, measures
from toyinterp.params import ParameterError, check_memory
from toyinterp.tasks import POLY_SYMBOLS, Polynomial, pow_mod


def test_pow_mod_matches_python_pow_including_zero_to_the_zero():
    p = 13
    x = torch.arange(p).repeat_interleave(p)
    e = torch.arange(p).repeat(p)
    expected = torch.tensor([pow(int(a), int(b), p) for a, b in zip(x, e)])
    assert torch.equal(pow_mod(x, e, p), expected)


def test_rows_follow_the_seed_layout_and_labels_are_right():
    task = Polynomial(p=5)
    assert task.tokens.shape == (5 ** 4, 10) and task.d_vocab == 5 + len(POLY_SYMBOLS) and task.d_vocab_out == 5
    sym = {s: 5 + i for i, s in enumerate(POLY_SYMBOLS)}
    for row, label in zip(task.tokens[::37], task.labels[::37]):
        t = row.tolist()
        assert [t[i] for i in (0, 2, 4, 6, 7, 9)] == [sym[s] for s in "(*+)^="]
        a, b, c, d = t[1], t[3], t[5], t[8]
        assert label == pow(a * b + c, d, 5)
    # every row exactly once; train and test disjoint and covering
    assert len(set(map(tuple, task.tokens.tolist()))) == 5 ** 4
    both = torch.cat([task.train_idx, task.test_idx]).sort().values
    assert torch.equal(both, torch.arange(5 ** 4))


def test_fermat_structure_of_the_labels():
    task = Polynomial(p=7)
    nonzero = task.base != 0
    d = task.d
    # x^0 = x^(p-1) = 1 for x != 0; a zero base gives 0 for d >= 1 and 1 for d = 0
    assert (task.labels[nonzero & ((d == 0) | (d == 6))] == 1).all()
    assert (task.labels[~nonzero & (d > 0)] == 0).all() and (task.labels[~nonzero & (d == 0)] == 1).all()


def test_sampling_rows_is_seeded_distinct_and_never_enumerates_large_tables():
    a = Polynomial(p=101, n_rows=5000, data_seed=3)  # 101^4 = 104 M rows: sampled, not enumerated
    b = Polynomial(p=101, n_rows=5000, data_seed=3)
    assert torch.equal(a.tokens, b.tokens) and len(a.row_ids.unique()) == 5000
    assert not torch.equal(a.row_ids, Polynomial(p=101, n_rows=5000, data_seed=4).row_ids)
    for row, label in zip(a.tokens[:50], a.labels[:50]):
        t = row.tolist()
        assert label == pow(t[1] * t[3] + t[5], t[8], 101)


def test_bad_parameters_are_one_clear_error():
    with pytest.raises(ParameterError, match="prime"):
        Polynomial(p=12)
    with pytest.raises(ParameterError, match="n_rows"):
        Polynomial(p=5, n_rows=10 ** 6)
    with pytest.raises(ParameterError, match="GiB"):
        check_memory("a huge step", 10 ** 15)


def _logs(p):
    return {int(x): k for k, x in enumerate(fourier.discrete_log_order(p))}


@pytest.mark.parametrize("p", [3, 7, 11, 13])
def test_multiplicative_character_basis_is_orthonormal(p):
    B, names = fourier.mult_character_basis(p)
    assert B.shape == (p - 1, p - 1) and len(names) == p - 1 and names[0] == "const"
    assert torch.allclose(B @ B.T, torch.eye(p - 1, dtype=B.dtype), atol=1e-12)
    assert names[-1] == f"nyq {(p - 1) // 2}"
    g = fourier.primitive_root(p)
    assert len({pow(g, k, p) for k in range(p - 1)}) == p - 1


def test_multiplicative_spectrum_of_a_character_is_one_frequency():
    p = 11
    logs = _logs(p)
    j = 3
    f = torch.tensor([0.0] + [math.cos(2 * math.pi * j * logs[x] / (p - 1)) for x in range(1, p)])
    norms = fourier.mult_freq_norms(f[:, None], 0)
    assert norms.shape == ((p - 1) // 2,)
    assert norms.argmax().item() + 1 == j and norms[j - 1] / norms.sum() > 0.999
    # the norm is the function's Euclidean norm (orthonormal basis): sqrt((p-1)/2) for a unit cosine
    assert abs(norms[j - 1].item() - math.sqrt((p - 1) / 2)) < 1e-5
    assert measures.gini(norms) > measures.gini(fourier.freq_norms(f[:, None], 0))


@pytest.mark.parametrize("p", [7, 11, 13])
def test_legendre_symbol_is_the_nyquist_character_with_its_full_norm(p):
    legendre = torch.tensor([0.0] + [1.0 if pow(x, (p - 1) // 2, p) == 1 else -1.0 for x in range(1, p)])
    norms = fourier.mult_freq_norms(legendre, 0)
    assert norms[-1].item() == pytest.approx(math.sqrt(p - 1), abs=1e-5)  # ||legendre|| over (Z_p)^*
    assert norms[:-1].abs().max().item() < 1e-5


def test_parseval_puts_the_nyquist_and_the_pairs_on_one_footing():
    # Unit-norm functions at every frequency have unit norm in their frequency, the Nyquist one included,
    # and the total over frequencies is the non-constant part of the function's norm.
    p = 13
    torch.manual_seed(0)
    W = torch.randn(p, 5, dtype=torch.float64)
    norms = fourier.mult_freq_norms(W, 0).double()
    f = W[fourier.discrete_log_order(p)]
    assert norms.pow(2).sum().item() == pytest.approx((f - f.mean(0)).pow(2).sum().item(), rel=1e-5)
    logs = _logs(p)
    for j in range(1, (p - 1) // 2 + 1):
        v = torch.tensor([0.0] + [math.cos(2 * math.pi * j * logs[x] / (p - 1)) for x in range(1, p)])
        n = fourier.mult_freq_norms(v / v.norm(), 0)
        assert n[j - 1].item() == pytest.approx(1.0, abs=1e-5) and n.pow(2).sum().item() == pytest.approx(1, abs=1e-5)


def test_accuracy_by_key():
    correct = torch.tensor([1, 0, 1, 1, 0, 0], dtype=torch.bool)
    key = torch.tensor([0, 0, 1, 1, 2, 2])
    assert measures.accuracy_by(correct, key, 4)[:3].tolist() == [0.5, 1.0, 0.0]
    assert measures.accuracy_by(correct, key, 4)[3].isnan()


def test_power_image_has_size_p_minus_1_over_gcd():
    for p in (7, 11, 13):
        for d in range(p):
            img = fourier.power_image(p, d)
            assert len(img) == (p - 1) // math.gcd(d, p - 1) and 0 not in img and 1 in img
    assert fourier.power_image(7, 3) == [1, 6] and fourier.power_image(7, 2) == [1, 2, 4]
