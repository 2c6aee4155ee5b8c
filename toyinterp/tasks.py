"""Datasets: rows of tokens, labels, and a seeded train/test split.

Every task in the book is a finite table of rows. A row is a sequence of token
ids (``tokens[i]``, read by a transformer) with one label (``labels[i]``, the
correct answer at the last position). The split follows the TransformerLens
grokking demo exactly::

    torch.manual_seed(data_seed); perm = torch.randperm(n_rows)
    train = perm[: int(n_rows * frac_train)]; test = perm[int(n_rows * frac_train):]

so that with ``p=113, frac_train=0.3, data_seed=598`` our train set is the demo's,
row for row (``tests/test_tasks.py`` checks it). We draw from a private
``torch.Generator`` seeded the same way, which gives the same permutation
without touching the caller's global RNG.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from .params import check_fraction, check_int, check_memory, check_prime


def seeded_split(n_rows: int, frac_train: float, data_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train_idx, test_idx): the TransformerLens demo's split rule on ``n_rows`` rows."""
    check_fraction("frac_train", frac_train)
    gen = torch.Generator().manual_seed(data_seed)
    perm = torch.randperm(n_rows, generator=gen)
    cut = int(n_rows * frac_train)
    if cut == 0 or cut == n_rows:
        raise ValueError(f"frac_train={frac_train} leaves an empty train or test set on {n_rows} rows")
    return perm[:cut], perm[cut:]


@dataclass
class SequenceTask:
    """A finite table of token rows with labels, split into train and test.

    Subclasses fill ``tokens`` [n_rows, n_ctx], ``labels`` [n_rows], ``d_vocab``
    (input vocabulary) and ``d_vocab_out`` (number of classes) in ``__post_init__``.
    """

    CODE_MODULES = ("tasks.py",)  # the code that makes the data: part of the artifact store's key

    frac_train: float
    data_seed: int
    tokens: torch.Tensor = field(init=False, repr=False)  # [n_rows, n_ctx] int64
    labels: torch.Tensor = field(init=False, repr=False)  # [n_rows] int64
    train_idx: torch.Tensor = field(init=False, repr=False)  # [n_train]
    test_idx: torch.Tensor = field(init=False, repr=False)  # [n_test]
    d_vocab: int = field(init=False)
    d_vocab_out: int = field(init=False)

    def _split(self) -> None:
        self.train_idx, self.test_idx = seeded_split(len(self.labels), self.frac_train, self.data_seed)

    @property
    def n_ctx(self) -> int:
        return self.tokens.shape[1]

    @property
    def name(self) -> str:
        return type(self).__name__

    def spec(self) -> dict:
        """Everything that determines the data: hashed into the artifact store's key."""
        keep = {k: v for k, v in asdict(self).items() if not isinstance(v, torch.Tensor)}
        return {"task": self.name, **keep}

    def train_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[self.train_idx], self.labels[self.train_idx]

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens[self.test_idx], self.labels[self.test_idx]


def _all_pairs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """a, b over all n*n pairs, a-major (row a*n + b), as the TL demo lays them out."""
    a = torch.arange(n).repeat_interleave(n)
    b = torch.arange(n).repeat(n)
    return a, b


@dataclass
class ModularAddition(SequenceTask):
    """Rows ``[a, b, =]`` with label ``(a + b) mod p``; ``=`` is token ``p``.

    Row ``a*p + b`` holds the pair (a, b), so ``labels.reshape(p, p)`` is the
    addition table and analysis over (a, b) grids is a reshape away.
    """

    p: int = 113
    frac_train: float = 0.3
    data_seed: int = 598

    def __post_init__(self):
        check_prime("p", self.p)
        a, b = _all_pairs(self.p)
        eq = torch.full_like(a, self.p)
        self.tokens = torch.stack([a, b, eq], dim=1)
        self.labels = (a + b) % self.p
        self.d_vocab, self.d_vocab_out = self.p + 1, self.p
        self._split()


@dataclass
class MinOfTwo(SequenceTask):
    """Rows ``[a, b, =]`` with a, b in 0..max_num-1 and label ``min(a, b)``; ``=`` is token ``max_num``."""

    max_num: int = 200
    frac_train: float = 0.8
    data_seed: int = 4

    def __post_init__(self):
        check_int("max_num", self.max_num, low=2)
        a, b = _all_pairs(self.max_num)
        eq = torch.full_like(a, self.max_num)
        self.tokens = torch.stack([a, b, eq], dim=1)
        self.labels = torch.minimum(a, b)
        self.d_vocab, self.d_vocab_out = self.max_num + 1, self.max_num
        self._split()


@dataclass
class GroupComposition(SequenceTask):
    """Rows ``[a, b, =]`` with label ``a b`` (the group's product); ``=`` is token ``order``.

    ``group`` is a ``toyinterp.groups`` name: ``"D59"`` (dihedral, order 118) or ``"C113"`` (cyclic).
    """

    CODE_MODULES = ("tasks.py", "groups.py")

    group: str = "D59"
    frac_train: float = 0.3
    data_seed: int = 0

    def __post_init__(self):
        self.G = make_group(self.group)
        n = self.G.order
        a, b = _all_pairs(n)
        self.tokens = torch.stack([a, b, torch.full_like(a, n)], dim=1)
        self.labels = self.G.cayley_table().reshape(-1)
        self.d_vocab, self.d_vocab_out = n + 1, n
        self._split()

    def spec(self) -> dict:
        return {"task": self.name, "group": self.group, "frac_train": self.frac_train, "data_seed": self.data_seed}


def make_group(name: str):
    """``"D<n>"`` -> Dihedral(n), ``"C<n>"`` -> Cyclic(n); anything else is one clear error."""
    from .groups import Cyclic, Dihedral
    from .params import ParameterError

    kinds = {"D": Dihedral, "C": Cyclic}
    if not isinstance(name, str) or len(name) < 2 or name[0] not in kinds or not name[1:].isdigit():
        raise ParameterError(f"group must be 'D<n>' (dihedral) or 'C<n>' (cyclic), e.g. 'D59'; got {name!r}")
    return kinds[name[0]](int(name[1:]))


def pow_mod(x: torch.Tensor, e: torch.Tensor, p: int) -> torch.Tensor:
    """``x ** e mod p`` elementwise for int64 tensors with 0 <= x < p, e >= 0 (square and multiply); 0**0 = 1."""
    out = torch.ones_like(x)
    base, e = x % p, e.clone()
    while bool((e > 0).any()):
        out = torch.where(e % 2 == 1, out * base % p, out)
        base, e = base * base % p, e // 2
    return out


POLY_SYMBOLS = ("(", "*", "+", ")", "^", "=")  # token ids p .. p+5


@dataclass
class Polynomial(SequenceTask):
    """Rows ``( a * b + c ) ^ d =`` (10 tokens) with label ``(a b + c)^d mod p``; a, b, c, d in 0..p-1.

    Numbers are tokens ``0..p-1`` and the six symbols ``POLY_SYMBOLS`` are ``p..p+5`` (vocabulary p + 6), the
    layout of the seed notebook. Row ``r = ((a p + b) p + c) p + d``. With ``n_rows=None`` the task holds all
    p^4 rows; with ``n_rows=k`` it holds k distinct rows drawn with ``data_seed`` (p^4 row indices are never
    materialized when p^4 is large), and the split is taken inside that sample.
    """

    p: int = 11
    frac_train: float = 0.5
    data_seed: int = 0
    n_rows: int | None = None

    def __post_init__(self):
        check_prime("p", self.p)
        p, total = self.p, self.p ** 4
        n = total if self.n_rows is None else check_int("n_rows", self.n_rows, low=2, high=total)
        check_memory(f"the polynomial task with {n:,} rows", n * 12 * 8)
        self.row_ids = self._sample(total, n) if n < total else torch.arange(total)
        r = self.row_ids
        d, c, b, a = r % p, r // p % p, r // p**2 % p, r // p**3
        sym = {s: torch.full_like(a, p + i) for i, s in enumerate(POLY_SYMBOLS)}
        self.tokens = torch.stack([sym["("], a, sym["*"], b, sym["+"], c, sym[")"], sym["^"], d, sym["="]], dim=1)
        self.base = (a * b + c) % p  # the value raised to the power d
        self.labels = pow_mod(self.base, d, p)
        self.d_vocab, self.d_vocab_out = p + len(POLY_SYMBOLS), p
        self._split()

    def _sample(self, total: int, n: int) -> torch.Tensor:
        """n distinct row ids in [0, total), seeded; never allocates ``total`` entries unless total is small."""
        gen = torch.Generator().manual_seed(self.data_seed)
        if total <= 1 << 24:
            return torch.randperm(total, generator=gen)[:n].sort().values
        ids = torch.empty(0, dtype=torch.long)
        while len(ids) < n:
            ids = torch.cat([ids, torch.randint(total, (2 * (n - len(ids)),), generator=gen)]).unique()
        return ids[torch.randperm(len(ids), generator=gen)[:n]].sort().values

    @property
    def d(self) -> torch.Tensor:
        """The exponent of each row."""
        return self.tokens[:, 8]
