"""A chapter's headline claims on several runs: which runs, the spread of each measure, claims on every run.

A run is an initialization seed and a data seed (the split). A chapter lists its runs with
``runs(seed, data_seed, extra_runs)`` (its default run first, then each ``[seed, data_seed]`` pair of its
``extra_runs`` parameter), computes its headline measures on each, and shows them with ``spread_table``: one row
per measure with the anchor's value, every run's value, their mean and their range::

    plan = seeds.runs(seed, data_seed, extra_runs)        # [Run(0, 4), Run(1, 4), Run(2, 5)]
    values = {r: headline(train(r)) for r in plan}          # Run -> {measure: value}
    seeds.spread_table(values, anchors={"test accuracy": 0.99825})
    seeds.claim_every("test accuracy", values, anchor=0.99825, source="...", at_least=0.995)

``claim_every`` records one claim per measure: the value of the run that does worst against the criterion (the
lowest for ``at_least``, the highest for ``at_most``, the nearest an edge for ``between``), so the claim holds
exactly when it holds on every run; the note names that run and lists every run's value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from . import claims, tables
from .claims import _fmt, _fmt_anchor
from .params import ParameterError


@dataclass(frozen=True, order=True)
class Run:
    """One training run: its initialization seed and its data seed (the split)."""

    seed: int
    data_seed: int

    def __str__(self) -> str:
        return f"seed {self.seed}, data {self.data_seed}"


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def runs(seed: int, data_seed: int, extra_runs=()) -> list[Run]:
    """The default run ``(seed, data_seed)`` then each ``[seed, data_seed]`` pair of ``extra_runs``.

    ``ParameterError`` for a pair that is not two integers, a run given twice, or the default run given again."""
    for name, v in (("seed", seed), ("data_seed", data_seed)):
        if not _is_int(v):
            raise ParameterError(f"{name} must be an integer, got {v!r}")
    if isinstance(extra_runs, (str, bytes)) or not hasattr(extra_runs, "__iter__"):
        raise ParameterError(f"extra_runs must be a list of [seed, data_seed] pairs, got {extra_runs!r}")
    out = [Run(seed, data_seed)]
    for pair in extra_runs:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2 \
                or not all(_is_int(x) for x in pair):
            raise ParameterError(f"extra_runs: each run is a pair of integers [seed, data_seed], got {pair!r}")
        r = Run(*pair)
        if r in out:
            what = "the default run" if r == out[0] else "given twice"
            raise ParameterError(f"extra_runs: [{r.seed}, {r.data_seed}] is {what}")
        out.append(r)
    return out


def seed_runs(seed: int, data_seed: int, extra_seeds=()) -> list[Run]:
    """``runs`` for a chapter whose ``extra_seeds`` parameter lists initialization seeds on its one split:
    the default run, then ``(s, data_seed)`` for each ``s`` in ``extra_seeds``.

    ``ParameterError`` for ``extra_seeds`` that is not a list of integers, or that repeats a seed or the default."""
    if isinstance(extra_seeds, (str, bytes)) or not hasattr(extra_seeds, "__iter__") \
            or not all(_is_int(s) for s in extra_seeds):
        raise ParameterError(f"extra_seeds must be a list of integer seeds, got {extra_seeds!r}")
    return runs(seed, data_seed, [[s, data_seed] for s in extra_seeds])


def coverage(plan) -> str:
    """'3 initialization seeds (0, 1, 2) and 2 data seeds (4, 5)'."""
    s = sorted({r.seed for r in plan})
    d = sorted({r.data_seed for r in plan})
    return (f"{len(s)} initialization seed{'s' * (len(s) != 1)} ({', '.join(map(str, s))}) and "
            f"{len(d)} data seed{'s' * (len(d) != 1)} ({', '.join(map(str, d))})")


def _values(values, name: str) -> dict:
    """Run -> value of measure ``name``, from Run -> {measure: value} (or already Run -> value)."""
    return {r: (v[name] if isinstance(v, dict) else v) for r, v in values.items()}


def column(values: dict, name: str) -> list:
    """Measure ``name``'s value on every run of ``values`` (Run -> {measure: value}), in the runs' order (the
    default run first): what a chapter's prose quotes of its runs (``tables.span``, ``tables.listed``)."""
    return list(_values(values, name).values())


@dataclass
class Spread:
    """One measure over the runs (the first is the chapter's default run)."""

    name: str
    values: dict  # Run -> value
    anchor: object = None

    @property
    def numeric(self) -> bool:
        """Whether every run's value is a number (a run that never reached a step has None: no mean, no range)."""
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.values.values())

    @property
    def mean(self) -> float:
        return sum(self.values.values()) / len(self.values)

    @property
    def lo(self):
        return min(self.values.values())

    @property
    def hi(self):
        return max(self.values.values())

    @property
    def range(self):
        return self.hi - self.lo


class SpreadTable:
    """measure | anchor | [reference] | one column per run | mean | min–max: HTML in the book, text in a terminal."""

    def __init__(self, spreads: list[Spread], runs_: list, reference: tuple[str, dict] | None = None):
        self.spreads, self.runs, self.reference = spreads, runs_, reference

    def rows(self) -> list[tuple[str, ...]]:
        ref = [] if self.reference is None else [self.reference[0]]
        head = ("measure", "anchor", *ref, *map(str, self.runs), "mean", "min–max")
        body = []
        for s in self.spreads:
            ref = [] if self.reference is None else [_fmt(self.reference[1].get(s.name, "—"))]
            body.append((s.name, _fmt_anchor(s.anchor), *ref,
                         *(_fmt(s.values[r]) for r in self.runs),
                         *((_fmt(s.mean), f"{_fmt(s.lo)} – {_fmt(s.hi)}") if s.numeric else ("—", "—"))))
        return [head, *body]

    def _repr_html_(self) -> str:
        return tables.to_html(self.rows(), "toyinterp-spread")

    def __str__(self) -> str:
        return tables.text(self.rows())

    __repr__ = __str__


def spread_table(values: dict, anchors: dict | None = None, measures=None,
                 reference: tuple[str, dict] | None = None) -> SpreadTable:
    """``values``: Run -> {measure: value}, every run with the same measures; a run's column is headed ``str(run)``.
    ``anchors``: measure -> the anchor's value (shown; absent: '—'). ``measures``: which, in order (default: all).
    ``reference``: (heading, {measure: value}), a column shown before the runs and left out of the mean and range
    (the default run at another training length, say)."""
    plan = list(values)
    if not plan:
        raise ValueError("spread_table needs at least one run")
    names = list(measures if measures is not None else values[plan[0]])
    anchors = anchors or {}
    return SpreadTable([Spread(n, _values(values, n), anchors.get(n)) for n in names], plan, reference)


def _margin(v, kind: str, bound, anchor) -> float:
    """How far ``v`` is inside the criterion (negative: it fails)."""
    if isinstance(v, float) and math.isnan(v):
        return -math.inf
    if kind == "at_least":
        return v - bound
    if kind == "at_most":
        return bound - v
    if kind == "between":
        return min(v - bound[0], bound[1] - v)
    if kind == "within":
        return bound * abs(anchor) - abs(v - anchor)
    return 0.0 if v == bound else -1.0  # equals


def claim_every(name: str, values: dict, anchor=None, source: str = "", *, measure: str | None = None,
                note: str = "", **criterion) -> claims.Claim:
    """Claim ``criterion`` (one of ``claims.claim``'s) on every run: records the claim
    '``name``: worst of N runs' with the value of the run that does worst against it.

    ``values``: Run -> value, or Run -> {measure: value} with ``measure`` (default ``name``) picking one."""
    vals = _values(values, measure or name) if any(isinstance(v, dict) for v in values.values()) else dict(values)
    given = {k: v for k, v in criterion.items() if v is not None}
    if len(given) != 1 or next(iter(given)) not in ("at_least", "at_most", "between", "within", "equals"):
        raise ValueError(f"claim_every {name!r}: give exactly one of claims.claim's criteria, got {sorted(given)}")
    (kind, bound), = given.items()
    worst = min(vals, key=lambda r: _margin(vals[r], kind, bound, anchor))
    every = "; ".join(f"{r}: {_fmt(v)}" for r, v in vals.items())
    text = f"worst: {worst}; every run: {every}" + (f". {note}" if note else "")
    return claims.claim(f"{name}: worst of {len(vals)} runs", vals[worst], anchor=anchor, source=source,
                        note=text, **given)
