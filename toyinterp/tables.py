"""Tables in a chapter's output: an HTML table in the book, aligned text columns in a terminal.

One renderer for every table the package prints (the claims table, a chapter's spread over seeds, a sweep's
summary, a chapter's own summary)::

    tables.Table(["", "binary", "ternary"], [["final test acc", "1", "0.998"]])

Cells are strings (the caller formats its numbers); HTML cells are escaped. The book's stylesheet
(``_static/toyinterp.css``) gives ``table.toyinterp-table`` its borders and padding.
"""
from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Sequence

CSS_CLASS = "toyinterp-table"


def text(rows: Sequence[Sequence[str]]) -> str:
    """``rows`` (the first is the header) as text columns joined by " | ", a rule under the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


# a word with a digit in it, with the comparison before it if any (">= 0.996" is one piece); one capturing
# group, so that re.split alternates the text between such words and the words themselves
_NUMBER_TOKEN = re.compile(r"((?:[<>=]=? )?\S*\d\S*)")
NOBR_CLASS = "toyinterp-nobr"  # the stylesheet keeps such a piece on one line


def pieces(x: str) -> list[tuple[str, bool]]:
    """``x`` cut into ``(text, keep_whole)`` pieces: each word with a digit in it (a number, a range,
    ``1.5e-06``), with a comparison before it (``<= 2.000e-04``), is one piece to keep on one line, so that a
    narrow column wraps between words, never inside a number or between a bound and its operator."""
    return [(t, i % 2 == 1) for i, t in enumerate(_NUMBER_TOKEN.split(x)) if t]


def _cell(x: str) -> str:
    """A cell's text, escaped, its ``pieces`` to keep whole each in a ``span.toyinterp-nobr``."""
    return "".join(f'<span class="{NOBR_CLASS}">{html.escape(t)}</span>' if keep else html.escape(t)
                   for t, keep in pieces(x))


def to_html(rows: Sequence[Sequence[str]], css_class: str = "") -> str:
    """``rows`` (the first is the header) as an HTML table of class ``toyinterp-table`` (and ``css_class``)."""
    head, *body = rows
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    tb = "".join("<tr>" + "".join(f"<td>{_cell(x)}</td>" for x in row) + "</tr>" for row in body)
    cls = " ".join(c for c in (CSS_CLASS, css_class) if c)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{tb}</tbody></table>'


class Table:
    """A header and rows of strings: HTML in the book, text in a terminal."""

    def __init__(self, head: Sequence[str], body: Sequence[Sequence[str]], css_class: str = ""):
        head = [str(h) for h in head]
        body = [[str(x) for x in row] for row in body]
        for row in body:
            if len(row) != len(head):
                raise ValueError(f"a row of {len(row)} cells under a header of {len(head)}: {row}")
        self.head, self.body, self.css_class = head, body, css_class

    def rows(self) -> list[list[str]]:
        return [self.head, *self.body]

    def _repr_html_(self) -> str:
        return to_html(self.rows(), self.css_class)

    def __str__(self) -> str:
        return text(self.rows())

    __repr__ = __str__


def settings(*configs) -> Table:
    """Dataclass objects (a task, a model configuration, a training configuration) as one table: a row per
    object, its class and the fields its ``repr`` shows (``name=value``, comma-separated, so a narrow column wraps
    between fields)."""
    return Table(["configuration", "fields"],
                 [[type(obj).__name__, ", ".join(f"{f.name}={getattr(obj, f.name)!r}"
                                                 for f in dataclasses.fields(obj) if f.repr)] for obj in configs])


def prose(**texts: str) -> None:
    """Numbers for a chapter's prose, computed from the page's own run.

    ``tables.prose(acc=f"{acc:.1%}")`` in a code cell, ``{glue:md}`acc``` in the markdown: the book shows the text
    where the role stands (myst-nb's ``glue``; the cell itself shows nothing). A sentence about this page's run
    then quotes this run -- the floats of one seed differ between machines, and a number typed into the prose
    from one machine's run is contradicted by the outputs of another's. A role whose name no cell glued fails the
    build (``--warningiserror``). In Jupyter and under papermill the call only records the texts.
    """
    from IPython.display import Markdown
    from myst_nb import glue

    for name, value in texts.items():
        if not isinstance(value, str):
            raise TypeError(f"prose({name}=...) takes the text to show (format the number), got {type(value).__name__}")
        glue(name, Markdown(value), display=False)


MINUS = "\u2212"  # the minus sign prose prints (a hyphen in running text reads as a dash)


def span(values, fmt="{:.2f}", scale: float = 1, unit: str = "") -> str:
    """``values``' range as prose writes it: ``"0.84–0.91"``, one number when they are all equal, ``"−0.01 to 0.08"``
    (``" to "`` where a dash would read badly: after a sign, or between numbers written with spaces such as ``sci``'s);
    each value times ``scale`` (100 for a percentage), written by ``fmt`` (a format string or a function), then
    ``unit`` (``" %"``)."""
    write = fmt.format if isinstance(fmt, str) else fmt
    lo, hi = (write(scale * v).replace("-", MINUS) for v in (min(values), max(values)))
    if lo == hi:
        return lo + unit
    dash = " to " if lo[0] in MINUS + "+" or " " in lo + hi else "–"
    return f"{lo}{dash}{hi}{unit}"


def worst_range(values, worst: float, fmt: str = "{:.2f}") -> str:
    """A bound's evidence as prose writes it: ``"worst 0.9978, range 0.0005"`` over the runs' ``values`` (``worst`` is
    their min or max, whichever side the bound is on), or ``"0.9978 on every run"`` when every run prints the same."""
    values = list(values)
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    if lo == hi:
        return f"{lo} on every run".replace("-", MINUS)
    return f"worst {fmt.format(worst)}, range {fmt.format(max(values) - min(values))}".replace("-", MINUS)


def signed(x: float, fmt: str = "{:+.3f}") -> str:
    """A difference as prose writes it: ``"+0.077"``, ``"−0.008"``."""
    return fmt.format(x).replace("-", MINUS)


def listed(texts) -> str:
    """``"a, b and c"`` (one text: itself)."""
    texts = list(texts)
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


def sci(x: float, digits: int = 1) -> str:
    """A number in scientific notation as prose writes it, in plain characters (glued Markdown shows ``$...$``
    literally): ``7.1e-07`` -> ``"7.1 × 10⁻⁷"``; nan and inf as Python prints them."""
    mantissa, _, exponent = f"{x:.{digits}e}".partition("e")
    if not exponent:
        return mantissa
    return f"{mantissa} × 10" + str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
