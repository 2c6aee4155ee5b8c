"""The results page (issue 16 item 2): one row per chapter from the claims records the chapters made when they
executed; a missing record, one from other code and a chapter without a summary are marked as such; the rows
do not depend on the order the chapters executed (or were recorded) in. The generator on fixture records, the
record a chapter's claims table carries, and a mini-book built like the real one."""
import json
import random
import re

import pytest
from docutils import nodes

from toyinterp import claims, results
from toyinterp.claims import claim

CHAPTERS = [("book/01_a", "Chapter A"), ("book/02_b", "Chapter B"), ("book/03_c", "Chapter C")]


def claim_row(name, ours, anchor, holds):
    return {"name": name, "ours": ours, "anchor": anchor, "source": "s", "criterion": ">= 0", "holds": holds,
            "miss": "", "note": ""}


def record(chapter, version, n_hold, n_fail, summary=True):
    rows = [claim_row(f"c{i}", 0.5 + i, 1.0, True) for i in range(n_hold)]
    rows += [claim_row(f"f{i}", -1.0, 1.0, False) for i in range(n_fail)]
    return {"format": 1, "chapter": chapter, "code_version": version, "timestamp": "2026-01-02T03:04:05+00:00",
            "summary": {"question": f"question of {chapter}?", "answer": f"answer of {chapter}.",
                        "headline": ["c0"] + (["f0"] if n_fail else [])} if summary else None,
            "claims": rows}


VERSIONS = {"book/01_a": "v1", "book/02_b": "v2", "book/03_c": "v3"}


def all_present():
    return {"book/01_a": record("book/01_a", "v1", 3, 0), "book/02_b": record("book/02_b", "v2", 4, 1),
            "book/03_c": record("book/03_c", "v3", 2, 0)}


def test_all_present():
    rows = results.rows(CHAPTERS, all_present(), VERSIONS)
    assert [r.chapter for r in rows] == [c for c, _ in CHAPTERS]
    assert [r.status for r in rows] == ["current"] * 3
    assert [r.counts for r in rows] == ["3/3", "4/5", "2/2"]
    assert rows[1].question == "question of book/02_b?" and rows[1].answer == "answer of book/02_b."
    assert rows[0].headline == ["c0: 0.5 | 1"]
    assert rows[1].headline == ["c0: 0.5 | 1", "f0: -1 | 1 (FAILS)"]
    assert "2026-01-02T03:04:05" in rows[2].status_text


def test_one_missing():
    recs = all_present()
    del recs["book/02_b"]
    rows = results.rows(CHAPTERS, recs, VERSIONS)
    assert [r.status for r in rows] == ["current", "missing", "current"]
    assert rows[1].counts == "—" and rows[1].status_text.startswith("missing")
    recs["book/02_b"] = None  # a notebook without a record
    assert results.rows(CHAPTERS, recs, VERSIONS)[1].status == "missing"


def test_one_from_other_code():
    recs = all_present()
    recs["book/03_c"]["code_version"] = "old"
    rows = results.rows(CHAPTERS, recs, VERSIONS)
    assert [r.status for r in rows] == ["current", "current", "stale"]
    assert rows[2].counts == "2/2"  # what it recorded, marked stale
    assert "other code" in rows[2].status_text and "old" in rows[2].status_text
    recs["book/03_c"] = record("book/01_a", "v3", 1, 0)  # another page's record
    assert results.rows(CHAPTERS, recs, VERSIONS)[2].status == "stale"


def test_a_headline_entry_names_a_claim_or_starts_the_names_of_several():
    rec = record("book/01_a", "v1", 0, 0)
    rec["claims"] = [claim_row("seed 1: groks", 1.0, 1.0, True), claim_row("seed 2: groks", 0.5, 1.0, False),
                     claim_row("key", 3, 5, True), claim_row("key frequencies", 4, 5, True)]
    rec["summary"]["headline"] = ["key", "seed ", "absent"]
    assert results.row("book/01_a", "A", rec, "v1").headline == [
        "key: 3 | 5", "seed 1: groks: 1 | 1", "seed 2: groks: 0.5 | 1 (FAILS)", "absent: not recorded"]


def test_no_summary_recorded():
    recs = all_present()
    recs["book/01_a"] = record("book/01_a", "v1", 3, 0, summary=False)
    r = results.rows(CHAPTERS, recs, VERSIONS)[0]
    assert (r.question, r.answer, r.headline, r.counts) == (results.NO_SUMMARY, results.NO_SUMMARY, [], "3/3")


def test_order_independent():
    """Records gathered in any order (the chapters executed in any order) give the same rows, in the book's."""
    base = [(r.chapter, r.status, r.counts, r.headline) for r in results.rows(CHAPTERS, all_present(), VERSIONS)]
    rng = random.Random(0)
    for _ in range(5):
        items = list(all_present().items())
        rng.shuffle(items)
        got = results.rows(CHAPTERS, dict(items), dict(reversed(list(VERSIONS.items()))))
        assert [(r.chapter, r.status, r.counts, r.headline) for r in got] == base


def test_table_node():
    recs = all_present()
    del recs["book/02_b"]
    table = results.table_node(results.rows(CHAPTERS, recs, VERSIONS), link=lambda d: d + ".html")
    body = next(iter(table.findall(nodes.tbody)))
    assert len(body.children) == 3
    assert [row["classes"] for row in body.children] == [["toyinterp-current"], ["toyinterp-missing"],
                                                         ["toyinterp-current"]]
    assert [ref["refuri"] for ref in table.findall(nodes.reference)] == [c + ".html" for c, _ in CHAPTERS]
    assert "3/3" in body.children[0].astext() and "missing" in body.children[1].astext()


def test_chapter_node():
    """Each chapter's block: its title linked, question, answer and one headline row per claim, a failing one
    marked; a block from other code says so."""
    recs = all_present()
    recs["book/02_b"]["code_version"] = "old"
    r = results.rows(CHAPTERS, recs, VERSIONS)[1]
    block = results.chapter_node(r, link=lambda d: d + ".html")
    text = block.astext()
    assert "question of book/02_b?" in text and "answer of book/02_b." in text and "4/5 claims hold" in text
    assert "stale" in text and "toyinterp-stale" in block["classes"]
    assert [ref["refuri"] for ref in block.findall(nodes.reference)] == ["book/02_b.html"]
    body = next(iter(block.findall(nodes.tbody)))
    assert [[e.astext() for e in row.children] for row in body.children] == [
        ["c0", "0.5", "1", "holds"], ["f0", "-1", "1", "FAILS"]]
    assert [row["classes"] for row in body.children] == [[], ["toyinterp-fails"]]
    assert len(results.results_nodes(results.rows(CHAPTERS, all_present(), VERSIONS))) == 1 + len(CHAPTERS)


def test_code_version(tmp_path):
    page = tmp_path / "p.md"
    head = "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n---\n"
    page.write_text(head + "# T\n\ntext\n\n```{code-cell} ipython3\nx = 1\n```\n")
    v = results.page_version(page)
    page.write_text(head + "# T\n\nother text\n\n```{code-cell} ipython3\nx = 1\n```\n")
    assert results.page_version(page) == v  # prose edits: jupyter-cache does not re-execute either
    page.write_text(head + "# T\n\ntext\n\n```{code-cell} ipython3\nx = 2\n```\n")
    assert results.page_version(page) != v
    mods = ["__init__.py", "claims.py"]
    assert results.code_version(v, mods) == results.code_version(v, list(reversed(mods)))
    assert len({results.code_version(v, mods), results.code_version("other", mods),
                results.code_version(v, mods + ["fourier.py"])}) == 3


def test_the_modules_a_chapter_loaded():
    import toyinterp.progress  # noqa: F401  (not result code)

    mods = results.loaded_modules()
    assert {"__init__.py", "claims.py"} <= set(mods) and not {"progress.py", "results.py"} & set(mods)


def test_the_table_carries_the_record_only_in_a_book_build(monkeypatch):
    claims.reset()
    claim("x", 1.0, anchor=1.0, source="s", at_least=0.5)
    assert not isinstance(claims.table()._repr_mimebundle_(), tuple)
    monkeypatch.setenv(claims.CHAPTER_ENV, "book/01_a")
    monkeypatch.setenv(results.PAGE_VERSION_ENV, "abc")
    with pytest.warns(UserWarning, match="nope"):  # shown as not recorded on the results page
        claims.summary(question="q?", answer="a.", headline=["nope"])
    assert results.row("book/01_a", "A", claims.record(), "v").headline == ["nope: not recorded"]
    claims.summary(question="q?", answer="a.", headline=["x"])
    data, meta = claims.table()._repr_mimebundle_()
    assert "text/html" in data
    rec = json.loads(json.dumps(meta[claims.RECORD_KEY]))
    assert rec["chapter"] == "book/01_a" and rec["page_version"] == "abc"
    assert rec["code_version"] == results.code_version("abc", rec["modules"]) and "claims.py" in rec["modules"]
    assert rec["summary"] == {"question": "q?", "answer": "a.", "headline": ["x"]}
    assert [c["name"] for c in rec["claims"]] == ["x"]
    nb = {"cells": [{"cell_type": "code", "outputs": [{"output_type": "execute_result", "data": data,
                                                       "metadata": meta}]}]}
    assert results.record_of_notebook(nb) == rec
    row = results.row("book/01_a", "A", rec, rec["code_version"])
    assert (row.status, row.counts, row.headline) == ("current", "1/1", ["x: 1 | 1"])
    claims.reset()
    assert claims.record()["summary"] is None


# ---- the mini-book, built as `make book` builds the real one (shared with test_progress) -------------------

def cells_of(html: str) -> list[str]:
    """The text of every body cell in ``html``."""
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", html, re.S)]


def rows_of(html: str) -> list[list[str]]:
    table = re.search(r'<table[^>]*toyinterp-results.*?</table>', html, re.S).group(0)
    body = re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1)
    return [cells_of(tr) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_minibook_results_page():
    import minibook

    build = minibook.fresh()
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    rows = rows_of(build.page("results"))
    # the order of the table of contents (zz_first is listed first, and read after the results page)
    assert [r[0] for r in rows] == ["Toy one", "Toy two"]
    one, two = rows
    assert one[1] == "2/2" and one[2].startswith("current")
    assert two[1] == "2/3" and two[2].startswith("current")
    blocks = re.split(r'<div class="[^"]*\btoyinterp-result\b', build.page("results"))[1:]  # each to the next
    assert len(blocks) == 2
    assert "Does the toy learn?" in blocks[0] and "Yes, like the anchor." in blocks[0]
    assert cells_of(blocks[0]) == ["accuracy", "0.998", "1", "holds"]
    assert blocks[1].count(results.NO_SUMMARY) == 2
    # the record is in the executed notebook, not on the page
    assert claims.RECORD_KEY in build.executed("zz_first")
    assert claims.RECORD_KEY not in build.page("zz_first")
    # a second, incremental build (nothing changed, nothing executed) re-makes the page, with the same rows
    page = build.html / "results.html"
    before = page.stat().st_mtime_ns
    again = minibook.build(build.root)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Executing notebook" not in again.stdout
    assert "0 added, 1 changed, 0 removed" in again.stdout  # the results page only
    assert page.stat().st_mtime_ns > before
    assert rows_of(again.page("results")) == rows
    # a prose edit: the page is read again and rendered from jupyter-cache, not executed; the executed notebook
    # (the download, the record's source) keeps its outputs, so the row stays (myst-nb 1.4 alone writes the
    # unexecuted notebook there: toyinterp.sphinxext.restore_outputs)
    page = build.root / "zz_first.md"
    page.write_text(page.read_text() + "\nA paragraph added by an editor.\n")
    edited = minibook.build(build.root)
    assert edited.returncode == 0, edited.stdout[-3000:] + edited.stderr[-3000:]
    assert "Executing notebook" not in edited.stdout and "Using cached notebook" in edited.stdout
    assert "A paragraph added by an editor." in edited.page("zz_first")
    nb = json.loads(edited.executed("zz_first"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code)
    assert "trained" in edited.executed("zz_first") and claims.RECORD_KEY in edited.executed("zz_first")
    assert rows_of(edited.page("results")) == rows
