"""The built book works with the network closed: every figure draws (plotly.js from _static) and every formula
typesets (MathJax 3 from the book's own files, SVG output); no page loads a script from the network."""
import functools
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest
import yaml

HTML = Path(__file__).resolve().parents[1] / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = sorted((HTML / "book").glob("*.html"))


@functools.lru_cache(maxsize=None)
def chromium(page: Path) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium with the network closed: its DOM on stdout, its console on stderr."""
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
               f"--user-data-dir={profile}",
               # the network, closed: every host unresolvable and every proxy dead
               "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
               "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=15000", "--dump-dom", page.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def render(page: Path) -> str:
    return chromium(page).stdout


def test_the_book_was_built():
    assert HTML.joinpath("index.html").exists(), "build the book first: make book"
    assert PAGES, "no chapter pages in _build/html/book"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make chromium)")
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_figure_draws_offline(page):
    source = page.read_text()
    assert "cdn.plot.ly" not in source and "plotly-latest" not in source
    n_figures = source.count('class="plotly-graph-div"')
    if n_figures == 0:
        pytest.skip("no figures on this page")
    dom = render(page)
    drawn = len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom))
    assert drawn == n_figures, f"{page.name}: {drawn} of {n_figures} figures drew"
    assert dom.count('class="main-svg"') >= n_figures


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_no_script_comes_from_the_network_and_no_title_holds_math(page):
    source = page.read_text()
    remote = re.findall(r'<script[^>]*\bsrc="(?:https?:)?//[^"]*"', source)
    assert not remote, f"{page.name} loads scripts from the network: {remote}"
    titles = re.findall(r"<title>(.*?)</title>", source, re.S) + re.findall(
        r'<a class="reference internal"[^>]*>(.*?)</a>', source, re.S)
    raw = [t for t in titles if "\\(" in t or "$" in t or "\\bmod" in t]
    assert not raw, f"{page.name}: math in a title or the sidebar shows raw: {raw}"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_no_script_names_a_host_or_declares_a_constant_twice(page):
    """sphinx_thebe's inline script (loaded by every Jupyter Book 1 build) named a CDN and, registered twice,
    declared ``const THEBE_JS_URL`` twice: a SyntaxError in every page's console (toyinterp.sphinxext)."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page.read_text(), re.S)
    hosts = [s[:80] for s in scripts if re.search(r"https?://", s)]
    assert not hosts, f"{page.name}: inline scripts name network hosts: {hosts}"
    consts = re.findall(r"\bconst\s+([A-Za-z_$][\w$]*)\s*=", " ".join(s for s in scripts))
    twice = sorted({c for c in consts if consts.count(c) > 1})
    assert not twice, f"{page.name}: constants declared twice in its inline scripts: {twice}"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_the_prose_shows_no_glue_role_raw(page):
    """A chapter's prose quotes its own run through ``{glue:md}`name``` roles (``toyinterp.tables.prose``); the
    built page shows each role's text (a name no cell glued fails the build itself, warnings being errors)."""
    text = re.sub(r"<[^>]+>", "", page.read_text())
    assert "{glue" not in text and "glue:md" not in text, f"{page.name}: a glue role shows raw"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make chromium)")
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_no_page_logs_an_error(page):
    console = [line for line in chromium(page).stderr.splitlines() if ":CONSOLE" in line]
    assert console, f"{page.name}: no console lines captured (is Chromium logging to stderr?)"
    errors = [line.split("] ", 1)[-1][:200] for line in console
              if ":ERROR:CONSOLE" in line or "Uncaught" in line or "Failed to load" in line]
    assert not errors, f"{page.name}: the console shows errors: {errors}"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make chromium)")
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_formula_typesets_offline(page):
    source = page.read_text()
    n_math = len(re.findall(r'class="math notranslate', source))
    if n_math == 0:
        pytest.skip("no formulas on this page")
    dom = render(page)
    typeset = dom.count('<mjx-container class="MathJax')
    assert typeset >= n_math, f"{page.name}: {typeset} of {n_math} formulas typeset"
    assert '<g data-mml-node="merror"' not in dom, f"{page.name}: a formula failed to parse"


def _cells(tr: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]


def _body_rows(table: str) -> list[str]:
    return re.findall(r"<tr[^>]*>(.*?)</tr>", re.search(r"<tbody>(.*?)</tbody>", table, re.S).group(1), re.S)


def test_the_results_page_has_one_row_per_chapter_counting_its_claims():
    """Issue 16 item 2: one row per chapter of _toc.yml, in its order, each with n/m = the claims holding / all
    claims in the chapter's executed table of claims (the last on its page); no record missing."""
    toc = yaml.safe_load((HTML.parents[1] / "_toc.yml").read_text())
    chapters = [c["file"] for c in toc["chapters"] if c["file"] != "book/results"]
    page = (HTML / "book" / "results.html").read_text()
    table = re.search(r'<table class="[^"]*toyinterp-results.*?</table>', page, re.S).group(0)
    rows = _body_rows(table)
    links = [re.search(r'href="([^"#]+)', tr).group(1) for tr in rows]
    assert [f"book/{link.removesuffix('.html')}" for link in links] == chapters
    stale = []
    for tr, link in zip(rows, links):
        cells = _cells(tr)
        assert not cells[-1].startswith("missing"), f"{link}: {cells[-1]}"
        if cells[-1].startswith("stale"):
            stale.append(f"{link}: {cells[-1]}")
        claims_tables = re.findall(r'<table class="toyinterp-table toyinterp-claims">.*?</table>', (HTML / "book" / link).read_text(),
                                   re.S)
        assert claims_tables, f"{link} shows no table of claims"
        verdicts = [_cells(r)[-1] for r in _body_rows(claims_tables[-1])]
        assert cells[1] == f"{verdicts.count('holds')}/{len(verdicts)}", f"{link}: {cells[1]} on the results page"
    if stale:  # cached chapters the package changed under: their pages show what that code computed
        warnings.warn("results page rows from other code: " + "; ".join(stale))


# ---- issue 16 item 5: the executed notebook in each chapter's download menu; code fits the page's width ----

BOOK = HTML.parents[1] / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.md")  # the MyST notebooks: a header with a kernelspec
                  if re.search(r"\A---\n.*?^kernelspec:", p.read_text(), re.S | re.M))


def test_the_chapters_are_found():
    assert CHAPTERS, f"no chapters (MyST notebooks) in {BOOK}"


def _download_menu(page: str) -> str:
    menu = re.search(r'<div class="dropdown dropdown-download-buttons">.*?</ul>', page, re.S)
    assert menu, "the page has no download menu"
    return menu.group(0)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_download_menu_offers_the_executed_notebook(chapter):
    import jupytext
    import nbformat

    page = (HTML / "book" / f"{chapter}.html").read_text()
    links = re.findall(r'<a href="([^"]+)"', _download_menu(page))
    notebooks = [link for link in links if link.endswith(".ipynb")]
    assert len(notebooks) == 1, f"{chapter}: download links {links}"
    href = notebooks[0]
    assert not re.match(r"[a-z][a-z0-9+.-]*:|//", href), f"{chapter}: {href} is not part of the book"
    path = (HTML / "book" / href).resolve()
    assert path.is_relative_to(HTML.resolve()) and path.is_file(), f"{chapter}: {href} is not in _build/html"
    assert "launch-buttons" not in page and not re.search(r'href="[^"]*(binder|colab)', page, re.I)

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{chapter}: a code cell was not executed"
    assert any(c.outputs for c in code), f"{chapter}: no outputs"
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])], f"{chapter}: no parameters cell"
    page_code = [c.source for c in jupytext.read(BOOK / f"{chapter}.md").cells if c.cell_type == "code"]
    assert [c.source for c in code] == page_code, f"{chapter}: the notebook is not this chapter's code"
    assert not [o for c in code for o in c.outputs if o.get("name") == "stderr"], \
        f"{chapter}: stderr, which the page drops, is in the notebook"


# Opens each page with every hidden cell shown and writes, into the DOM it dumps, the code blocks (cells'
# inputs and literal blocks, not outputs) wider than their box, i.e. cut or scrolling sideways.
_MEASURE = """<script>
window.addEventListener("load", () => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const blocks = [...document.querySelectorAll("div.cell_input pre, div[class*='highlight-']:not(.output) pre")];
  const cut = blocks.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.split("\\n")
    .reduce((a, l) => l.length > a.length ? l : a, ""));
  document.body.setAttribute("data-code-width", JSON.stringify({blocks: blocks.length, cut}));
});
</script>"""


def code_blocks_cut(page: Path, width: int) -> dict:
    import html
    import json

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / page.name
        source = page.read_text()
        copy.write_text(source.replace("<head>", f'<head><base href="{page.parent.as_uri()}/">', 1)
                        .replace("</body>", _MEASURE + "</body>", 1))
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp}/profile", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--proxy-server=127.0.0.1:9", f"--window-size={width},1000", "--virtual-time-budget=5000",
               "--dump-dom", copy.as_uri()]
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'data-code-width="([^"]*)"', dom)
    assert found, f"{page.name}: the measuring script did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make chromium)")
@pytest.mark.parametrize("width", [1280, 600], ids=["1280px", "600px"])
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_code_cells_fit_the_page_width(chapter, width):
    """In a desktop and in a narrow window no code cell is cut: lines longer than the column wrap
    (_static/toyinterp.css)."""
    result = code_blocks_cut(HTML / "book" / f"{chapter}.html", width)
    assert result["blocks"] > 0, f"{chapter}: no code blocks found"
    assert not result["cut"], f"{chapter}: {len(result['cut'])} code blocks are cut, e.g. {result['cut'][:3]}"
