"""The built book draws every figure with the network closed (plotly.js from _static, no CDN)."""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HTML = Path(__file__).resolve().parents[1] / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = sorted((HTML / "book").glob("*.html"))


def render(page: Path) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
               f"--user-data-dir={profile}",
               # the network, closed: every host unresolvable and every proxy dead
               "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
               "--virtual-time-budget=15000", "--dump-dom", page.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout


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
