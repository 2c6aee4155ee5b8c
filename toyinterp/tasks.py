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

from .params import check_fraction, check_int, check_prime


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
