"""Claims: a chapter's results as code.

A claim is a named comparison: our measured value, the anchor's value and its
source, the criterion with its tolerance, and the verdict::

    claim("test accuracy at the end", ours=test_acc, anchor=1.0, source="TL demo",
          at_least=0.999)

``claim`` records the row, then raises ``ClaimFailed`` (naming the claim, our value,
the criterion and by how much it missed) when the criterion does not hold, so
nbval turns red. ``table()`` renders every claim of the chapter, one row each
with a verdict column reading ``holds`` or ``FAILS``; ``python -m toyinterp.run``
prints the same table from the JSON file named by ``$TOYINTERP_CLAIMS_FILE``.

A finding that disagrees with the anchor is a claim too: assert the disagreement
(``at_most`` below the anchor's number, say) and say so in the ``note``.

``summary(question=..., answer=..., headline=[claim names])`` gives the chapter's row on the book's results
page. When the book is built (``toyinterp.results`` sets ``$TOYINTERP_CHAPTER``), the table ``table()``
displays also carries the chapter's *record* (chapter, code version, time, summary and every claim) in its
output's metadata (under ``RECORD_KEY``): it is cached with the chapter's other outputs, and the results page
is made from it.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from . import tables

CLAIMS_FILE_ENV = "TOYINTERP_CLAIMS_FILE"
# "0": a failing claim is recorded as FAILS and the chapter goes on (``python -m toyinterp.run --keep-going``,
# for sweeps that need every claim's value on every seed); the run still exits non-zero. Default: raise.
RAISE_ENV = "TOYINTERP_CLAIMS_RAISE"
# Set by the book build (toyinterp.results) for the page being executed: its docname.
CHAPTER_ENV = "TOYINTERP_CHAPTER"
RECORD_KEY = "toyinterp.claims.record"  # in the metadata of the output of claims.table()


class ClaimFailed(AssertionError):
    """A chapter's claim does not hold."""


@dataclass
class Claim:
    name: str
    ours: float | int | str | bool
    anchor: float | int | str | None
    source: str
    criterion: str
    holds: bool
    miss: str = ""  # by how much it failed
    note: str = ""

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "FAILS"

    def _repr_html_(self) -> str:
        return _html([self])

    def _ipython_display_(self) -> None:
        if _cell_start is not None and any(c is self for c in _CLAIMS[_cell_start:]):
            return  # a claim of the running cell: shown with the cell's other claims, under it
        from IPython.display import display
        display(Table([self]))

    def __str__(self) -> str:
        return _text([self])


_CLAIMS: list[Claim] = []
_SUMMARY: dict = {}
_cell_start: int | None = None  # in IPython: how many claims there were when the running cell began


def _pre_run_cell(*_) -> None:
    global _cell_start
    _cell_start = len(_CLAIMS)


def _post_run_cell(*_) -> None:
    """Under every cell that made claims, one table of them (passing or failing), in the order made."""
    global _cell_start
    made, _cell_start = ([] if _cell_start is None else _CLAIMS[_cell_start:]), None
    if made:
        from IPython.display import display
        display(Table(made))


def _show_claims_under_their_cells() -> None:
    """In an IPython kernel, show each cell's claims under it (the chapter's assertions beside its prose)."""
    global _cell_start
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    for event, fn in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        if fn not in ip.events.callbacks[event]:
            ip.events.register(event, fn)
    _cell_start = 0  # the cell running now (the one that called reset) began before the hooks


def reset() -> None:
    """Forget the claims recorded so far (a chapter starts with this). In a notebook, from here on every
    cell that makes claims shows them in a table under it."""
    _CLAIMS.clear()
    _SUMMARY.clear()
    _dump()
    _show_claims_under_their_cells()


def summary(question: str, answer: str, headline=()) -> None:
    """The chapter's row on the book's results page: the ``question`` it asks, its one-line ``answer``, and its
    ``headline`` claims, shown there as ours | anchor. A headline entry is a claim's name, or the start of the
    names of the claims it stands for ("seed " for every seed's). Call it after those claims: an entry that
    names none (a claim this run skipped) warns, and the results page shows it as not recorded."""
    unknown = [n for n in headline if not any(c.name.startswith(n) for c in _CLAIMS)]
    if unknown:
        warnings.warn(f"claims.summary: no claim recorded under the headline name(s) {unknown}", stacklevel=2)
    _SUMMARY.clear()
    _SUMMARY.update(question=str(question), answer=str(answer), headline=list(headline))


def record() -> dict:
    """The chapter's record for the results page, with the version of the code that made it (see
    ``toyinterp.results``: the page's code cells and the ``toyinterp`` modules loaded)."""
    from . import results

    page, modules = os.environ.get(results.PAGE_VERSION_ENV), results.loaded_modules()
    return {"format": 1, "chapter": os.environ.get(CHAPTER_ENV),
            "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": results.code_version(page, modules), "page_version": page, "modules": modules,
            "summary": dict(_SUMMARY) or None,
            "claims": _strict_json([asdict(c) for c in _CLAIMS])}


def _strict_json(obj):
    """``obj`` as plain JSON values (``str`` for anything else), with a non-finite float as its name ("inf",
    "nan"): a notebook output's metadata must be strict JSON (Jupyter's messages refuse ``Infinity``), and a
    claim may hold with an infinite value (a control that never groks)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def _fmt_anchor(v) -> str:
    """An anchor's number as published (up to 6 significant digits: 0.99825, not 0.9982); "—" for none."""
    if v is None:
        return "—"
    if isinstance(v, float) and (v == 0 or 1e-3 <= abs(v) < 1e5):
        return f"{v:.6g}"
    return _fmt(v)


def claim(name: str, ours, anchor=None, source: str = "", *, at_least=None, at_most=None, between=None,
          within=None, equals=None, note: str = "") -> Claim:
    """Record a claim and raise ``ClaimFailed`` unless it holds.

    Criteria (give exactly one): ``at_least=x`` (ours >= x), ``at_most=x`` (ours <= x),
    ``between=(lo, hi)`` (inclusive), ``within=r`` (|ours - anchor| <= r * |anchor|),
    ``equals=x`` (ours == x, for counts, booleans and orderings).
    """
    given = {k: v for k, v in dict(at_least=at_least, at_most=at_most, between=between, within=within,
                                   equals=equals).items() if v is not None}
    if len(given) != 1:
        raise ValueError(f"claim {name!r}: give exactly one criterion, got {sorted(given) or 'none'}")
    (kind, bound), = given.items()
    if isinstance(ours, float) and math.isnan(ours):
        holds, crit, miss = False, f"{kind} {_fmt(bound)}", "ours is NaN"
    elif kind == "at_least":
        holds, crit, miss = ours >= bound, f">= {_fmt(bound)}", f"short by {_fmt(bound - ours)}"
    elif kind == "at_most":
        holds, crit, miss = ours <= bound, f"<= {_fmt(bound)}", f"over by {_fmt(ours - bound)}"
    elif kind == "between":
        lo, hi = bound
        holds, crit = lo <= ours <= hi, f"in [{_fmt(lo)}, {_fmt(hi)}]"
        miss = f"outside by {_fmt(lo - ours if ours < lo else ours - hi)}"
    elif kind == "within":
        if anchor is None:
            raise ValueError(f"claim {name!r}: within= needs an anchor value")
        dev = abs(ours - anchor) / abs(anchor)
        holds, crit = dev <= bound, f"within {bound:.0%} of anchor"
        miss = f"off by {dev:.1%} of the anchor"
    else:
        holds, crit, miss = ours == bound, f"== {_fmt(bound)}", f"is {_fmt(ours)}"
    c = Claim(name=name, ours=ours, anchor=anchor, source=source, criterion=crit, holds=bool(holds),
              miss="" if holds else miss, note=note)
    _CLAIMS.append(c)
    _dump()
    if not c.holds and os.environ.get(RAISE_ENV, "1") != "0":
        raise ClaimFailed(f"claim {name!r} FAILS: ours = {_fmt(ours)}, required {crit} ({miss}); "
                          f"anchor {_fmt(anchor)} [{source}]")
    return c


def _dump() -> None:
    path = os.environ.get(CLAIMS_FILE_ENV)
    if path:
        with open(path, "w") as f:
            json.dump([asdict(c) for c in _CLAIMS], f, indent=1, default=str)


def load(path) -> list[Claim]:
    with open(path) as f:
        return [Claim(**row) for row in json.load(f)]


COLUMNS = ("claim", "ours", "anchor", "source", "criterion", "verdict")


def _row(c: Claim) -> tuple[str, ...]:
    return (c.name, _fmt(c.ours), _fmt_anchor(c.anchor), c.source, c.criterion,
            c.verdict if c.holds else f"FAILS ({c.miss})")


def _html(claims) -> str:
    return tables.to_html([COLUMNS, *map(_row, claims)], "toyinterp-claims")


def _text(claims) -> str:
    return tables.text([COLUMNS, *map(_row, claims)])


class Table:
    """The claims table: HTML in the book, text in a terminal."""

    def __init__(self, claims, record: dict | None = None):
        self.claims = list(claims)
        self.record = record

    def _repr_html_(self) -> str:
        return _html(self.claims)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": _text(self.claims), "text/html": _html(self.claims)}
        if self.record is None:
            return bundle
        return bundle, {RECORD_KEY: self.record}  # metadata: no page shows it

    def __str__(self) -> str:
        return _text(self.claims)

    __repr__ = __str__

    @property
    def all_hold(self) -> bool:
        return all(c.holds for c in self.claims)


def table() -> Table:
    """Every claim recorded since ``reset()``; in a book build it carries the chapter's record."""
    return Table(_CLAIMS, record=record() if os.environ.get(CHAPTER_ENV) else None)
