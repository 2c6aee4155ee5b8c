"""The book's results page, made from the claims each chapter recorded when it executed: an overview with one row
per chapter (claims holding, the record's status), then a block per chapter (question, answer, headline claims
beside the anchor's).

A Sphinx extension (``sphinx: extra_extensions: [toyinterp.results]`` in ``_config.yml``):

1. Before a page is read (and so before myst-nb executes it), it sets ``$TOYINTERP_CHAPTER`` (the page's
   docname) and ``$TOYINTERP_PAGE_VERSION`` (``page_version``: a hash of the page's code cells); the Jupyter
   kernel inherits them.
2. A chapter's ``claims.table()`` then carries its record (``toyinterp.claims.record``: chapter, time,
   ``claims.summary``, every claim, the ``toyinterp`` modules the chapter loaded and the code version, a hash
   of the page's code cells and of those modules' code) in that output's metadata (``claims.RECORD_KEY``),
   which no page shows. The record is part of the executed notebook, so a chapter that jupyter-cache does not
   re-execute keeps the record of the run its page shows, even after ``jupyter-book clean``.
3. When a notebook page has been read, its record is taken from the executed notebook (myst-nb's output
   folder, ``_build/jupyter_execute``) into the build environment.
4. The directive ``{toyinterp-results}`` marks where the page's content goes; it is made when the page is
   written, after every page was read, whatever the order the chapters executed in, and the results page is
   re-read on every build, so an incremental build refreshes it. A chapter without a record is marked
   *missing*; one whose record's code version is not that of its page and modules now (jupyter-cache
   re-executes a chapter when its code cells change, not when the package does) is marked *stale*; one that
   recorded no ``claims.summary`` says so.

``rows``, ``table_node`` and ``chapter_node`` are the generator, testable on records without a build.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from docutils import nodes

from . import tables
from .claims import CHAPTER_ENV, RECORD_KEY, _fmt, _fmt_anchor
from .store import code_fingerprint

PAGE_VERSION_ENV = "TOYINTERP_PAGE_VERSION"
PACKAGE = Path(__file__).resolve().parent
# Modules that cannot change a chapter's result (how progress is shown, how the book is built): not hashed.
NOT_RESULT_CODE = frozenset({"progress.py", "results.py"})


# ---- code version -------------------------------------------------------------------------------------------

def loaded_modules() -> list[str]:
    """The ``toyinterp`` modules this process has loaded (paths in the package), ``NOT_RESULT_CODE`` left out."""
    out = set()
    for name, mod in list(sys.modules.items()):
        if name != "toyinterp" and not name.startswith("toyinterp."):
            continue
        try:
            rel = Path(getattr(mod, "__file__", None) or "").resolve().relative_to(PACKAGE)
        except ValueError:
            continue
        if rel.suffix == ".py" and rel.name not in NOT_RESULT_CODE:
            out.add(rel.as_posix())
    return sorted(out)


def modules_version(modules) -> str:
    h = hashlib.sha256()
    for rel in sorted(modules):
        f = PACKAGE / rel
        try:
            code = code_fingerprint(f.read_text())
        except OSError:
            code = "(missing)"
        except SyntaxError:
            code = f.read_text()
        h.update(f"{rel}\0{code}\0".encode())
    return h.hexdigest()


def page_version(page: str | Path) -> str:
    """A hash of the page's code cells (what jupyter-cache's decision to re-execute depends on)."""
    import jupytext

    h = hashlib.sha256()
    for cell in jupytext.read(Path(page)).cells:
        if cell.cell_type == "code":
            h.update(b"\0cell\0" + cell.source.encode())
    return h.hexdigest()


def code_version(page_ver: str | None, modules) -> str:
    """The code version of a chapter: its page's code cells (``page_version``) and the code of ``modules``."""
    return hashlib.sha256(f"{page_ver}\0{modules_version(modules)}".encode()).hexdigest()[:16]


# ---- records ------------------------------------------------------------------------------------------------

def record_of_notebook(nb: dict) -> dict | None:
    """The last claims record among a notebook's outputs, or None."""
    found = None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            rec = (out.get("metadata") or {}).get(RECORD_KEY)
            if rec is not None:
                found = json.loads(rec) if isinstance(rec, str) else rec
    return found


# ---- the generator ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    """One headline claim of a chapter as the results page shows it (``ours`` is "not recorded" when the
    chapter recorded no claim of that name; then ``holds`` is None)."""
    claim: str
    ours: str
    anchor: str = ""
    holds: bool | None = None

    def __str__(self) -> str:
        if self.holds is None:
            return f"{self.claim}: {self.ours}"
        return f"{self.claim}: {self.ours} | {self.anchor}" + ("" if self.holds else " (FAILS)")

    @property
    def verdict(self) -> str:
        return "not recorded" if self.holds is None else "holds" if self.holds else "FAILS"


@dataclass
class Row:
    chapter: str                 # docname
    title: str
    status: str                  # "current", "stale" or "missing"
    status_text: str
    question: str = ""
    answer: str = ""
    holding: int | None = None
    total: int | None = None
    headlines: list[Headline] = field(default_factory=list)

    @property
    def counts(self) -> str:
        return "—" if self.total is None else f"{self.holding}/{self.total}"

    @property
    def headline(self) -> list[str]:
        """The headline claims as lines: "name: ours | anchor", with " (FAILS)" where one fails."""
        return [str(h) for h in self.headlines]


NO_SUMMARY = "no summary recorded"


def headline_claims(claims: list[dict], entry: str) -> list[dict]:
    """The claims a headline entry names: the one named exactly so, else every one whose name starts with it."""
    exact = [c for c in claims if c.get("name") == entry]
    return exact or [c for c in claims if str(c.get("name", "")).startswith(entry)]


def row(chapter: str, title: str, record: dict | None, current_version: str | None) -> Row:
    """The results row of one chapter from its record (None: missing) and the code version it has now."""
    if not record:
        return Row(chapter, title, "missing", "missing: the executed chapter holds no claims record",
                   question="—", answer="—")
    claims = record.get("claims") or []
    when = record.get("timestamp") or "an unknown time"
    if record.get("chapter") != chapter:
        status, text = "stale", f"stale: recorded {when} for another page ({record.get('chapter')})"
    elif record.get("code_version") and record.get("code_version") == current_version:
        status, text = "current", f"current: executed {when}"
    else:
        status = "stale"
        text = (f"stale: recorded {when} by other code (code version {record.get('code_version') or 'unknown'}, "
                f"now {current_version or 'unknown'})")
    summary = record.get("summary") or {}
    headlines = []
    for entry in summary.get("headline", []):
        chosen = headline_claims(claims, entry)
        if not chosen:
            headlines.append(Headline(entry, "not recorded"))
        headlines += [Headline(str(c.get("name")), _fmt(c.get("ours")), _fmt_anchor(c.get("anchor")),
                               bool(c.get("holds"))) for c in chosen]
    return Row(chapter, title, status, text, question=summary.get("question", NO_SUMMARY),
               answer=summary.get("answer", NO_SUMMARY), holding=sum(bool(c.get("holds")) for c in claims),
               total=len(claims), headlines=headlines)


def rows(chapters, records: dict, versions: dict) -> list[Row]:
    """One row per chapter, in the order of ``chapters`` (``(docname, title)`` pairs, the book's order)."""
    return [row(doc, title, records.get(doc), versions.get(doc)) for doc, title in chapters]


COLUMNS = ("chapter", "claims holding", "record")  # the overview table
HEADLINE_COLUMNS = ("headline claim", "ours", "anchor", "verdict")  # each chapter's headline table


def _table(columns, widths, body_rows, classes):
    """A docutils table: ``body_rows`` are ``(cells, row classes)``, each cell a node, a string or a
    ``(content, cell classes)`` pair."""
    def cell(content, classes=()):
        entry = nodes.entry(classes=list(classes))
        entry += content if isinstance(content, nodes.Node) else _kept_whole(content)
        return entry

    table = nodes.table(classes=list(classes))
    group = nodes.tgroup(cols=len(columns))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    head += nodes.row("", *(cell(c) for c in columns))
    group += head
    body = nodes.tbody()
    for cells, row_classes in body_rows:
        body += nodes.row("", *(cell(*c) if isinstance(c, tuple) else cell(c) for c in cells),
                          classes=list(row_classes))
    group += body
    return table


def _kept_whole(text: str) -> nodes.paragraph:
    """A paragraph of ``text`` whose numbers (``tables.pieces``) never break across lines."""
    para = nodes.paragraph()
    for piece, keep in tables.pieces(text):
        para += nodes.inline(text=piece, classes=[tables.NOBR_CLASS]) if keep else nodes.Text(piece)
    return para


def _title(r: Row, link) -> nodes.Node:
    title = nodes.paragraph()
    if link is not None:
        title += nodes.reference("", r.title, internal=True, refuri=link(r.chapter))
    else:
        title += nodes.Text(r.title)
    return title


def table_node(table_rows: list[Row], link=None):
    """The overview: one row per chapter (its title, claims holding, the record's status), as a docutils table of
    class ``toyinterp-results``; ``link(docname)`` gives a chapter's URI."""
    return _table(COLUMNS, (40, 12, 48), [
        ([_title(r, link), (r.counts, ["toyinterp-counts"]), r.status_text], [f"toyinterp-{r.status}"])
        for r in table_rows], ["toyinterp-results"])


def chapter_node(r: Row, link=None) -> nodes.Node:
    """One chapter's block below the overview: its title, question, answer and headline claims (a table of
    claim, ours, the anchor's and the verdict)."""
    block = nodes.container(classes=["toyinterp-result", f"toyinterp-{r.status}"])
    heading = nodes.rubric()
    heading += _title(r, link).children
    heading += nodes.Text(f" — {r.counts} claims hold")
    block += heading
    if r.status != "current":
        block += nodes.paragraph(text=r.status_text, classes=["toyinterp-status"])
    for label, text in (("Question. ", r.question), ("Answer. ", r.answer)):
        para = nodes.paragraph()
        para += nodes.strong(text=label)
        para += nodes.Text(text)
        block += para
    if r.headlines:
        block += _table(HEADLINE_COLUMNS, (52, 16, 16, 16), [
            ([h.claim, h.ours, h.anchor, h.verdict],
             [] if h.holds else ["toyinterp-fails"]) for h in r.headlines], ["toyinterp-headline"])
    return block


def results_nodes(table_rows: list[Row], link=None) -> list[nodes.Node]:
    """The results page's content: the overview table, then each chapter's block."""
    return [table_node(table_rows, link)] + [chapter_node(r, link) for r in table_rows]


# ---- Sphinx -------------------------------------------------------------------------------------------------

RESULTS_ATTR = "toyinterp_results_docs"   # env: docnames holding the directive
RECORDS_ATTR = "toyinterp_records"        # env: notebook docname -> its record (None: none)


def _env_dict(env, name):
    if not hasattr(env, name):
        setattr(env, name, {})
    return getattr(env, name)


def page_environment(docname: str, path) -> dict[str, str | None]:
    """What the kernel that executes a page is told: which page it is, and the version of its code cells (None:
    not a page jupytext reads, so it executes nothing). The build sets it (``_source_read``), and so does
    ``toyinterp.prebuild`` for the pages it executes."""
    try:
        version = page_version(path)
    except Exception:
        version = None
    return {CHAPTER_ENV: docname, PAGE_VERSION_ENV: version}


def _source_read(app, docname, source):
    """Tell the kernel that is about to execute this page which page it is, and the version of its code cells."""
    for key, value in page_environment(docname, app.env.doc2path(docname)).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _doctree_read(app, doctree):
    env = app.env
    docname = env.docname
    if "kernelspec" not in env.metadata.get(docname, {}):
        return  # not a notebook
    from .sphinxext import executed_notebook

    ipynb = executed_notebook(app, docname)  # with its cached outputs restored (sphinxext.restore_outputs)
    try:
        rec = record_of_notebook(json.loads(ipynb.read_text(encoding="utf-8"))) if ipynb else None
    except (OSError, ValueError):
        rec = None
    _env_dict(env, RECORDS_ATTR)[docname] = rec


def _purge_doc(app, env, docname):
    _env_dict(env, RECORDS_ATTR).pop(docname, None)
    _env_dict(env, RESULTS_ATTR).pop(docname, None)


def _merge_info(app, env, docnames, other):
    for attr in (RECORDS_ATTR, RESULTS_ATTR):
        _env_dict(env, attr).update({d: v for d, v in _env_dict(other, attr).items() if d in docnames})


def _get_outdated(app, env, added, changed, removed):
    """The results page is re-read on every build: its rows depend on every chapter and on the code."""
    return [d for d in _env_dict(env, RESULTS_ATTR) if d in env.found_docs and d not in added | changed]


def toc_order(env) -> list[str]:
    """Every document in the order of the table of contents (depth first from the root document)."""
    seen, order = set(), []

    def visit(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            visit(child)

    visit(env.config.root_doc)
    return order + sorted(d for d in env.found_docs if d not in seen)


def _doctree_resolved(app, doctree, docname):
    from sphinx.util import logging

    placeholders = list(doctree.findall(results_placeholder))
    if not placeholders:
        return
    env = app.env
    records = _env_dict(env, RECORDS_ATTR)
    chapters = [(d, env.titles[d].astext() if d in env.titles else d) for d in toc_order(env) if d in records]
    versions = {d: code_version(page_version(env.doc2path(d)), records[d].get("modules", []))
                for d, _ in chapters if records[d]}
    table_rows = rows(chapters, records, versions)
    log = logging.getLogger(__name__)
    for r in table_rows:
        if r.status != "current":
            log.info(f"results page: {r.chapter}: {r.status_text}")
    for node in placeholders:
        node.replace_self(results_nodes(table_rows, link=lambda d: app.builder.get_relative_uri(docname, d)))


class results_placeholder(nodes.General, nodes.Element):
    """Where the results table goes (replaced when the page is written)."""


def setup(app):
    from sphinx.util.docutils import SphinxDirective

    class ResultsDirective(SphinxDirective):
        """``{toyinterp-results}``: the results table goes here."""
        has_content = False

        def run(self):
            _env_dict(self.env, RESULTS_ATTR)[self.env.docname] = True
            return [results_placeholder()]

    # the records are read from the executed notebooks, which toyinterp.sphinxext keeps whole (restore_outputs,
    # a doctree-read handler of priority 400, before this module's of 500)
    app.setup_extension("toyinterp.sphinxext")
    app.add_node(results_placeholder)
    app.add_directive("toyinterp-results", ResultsDirective)
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _doctree_read)
    app.connect("env-purge-doc", _purge_doc)
    app.connect("env-merge-info", _merge_info)
    app.connect("env-get-outdated", _get_outdated)
    app.connect("doctree-resolved", _doctree_resolved)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
