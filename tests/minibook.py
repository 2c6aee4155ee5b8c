"""A throwaway two-chapter book built with the book's own configuration (its execution settings and the
toyinterp.results extension) and the book's results page, the way `make book` builds the real one: for the
tests of the results page and of the progress shown while building. Building it takes some 20-40 s."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def cell(src: str) -> str:
    return "```{code-cell} ipython3\n" + textwrap.dedent(src).strip() + "\n```\n"


# Listed first in the table of contents, read last (Sphinx reads pages in the order of their names).
FIRST = HEADER + "\n# Toy one\n\n" + "\n".join([
    cell("""
        import time
        from toyinterp import claims, progress
        from toyinterp.claims import claim
        claims.reset()
        import tqdm.auto  # as TransformerLens does: without ipywidgets it warns, but not into the notebook
        """),
    cell("""
        bar = progress.bar(total=30, desc="train Toy", unit="step", mininterval=0.3)
        for _ in range(30):
            time.sleep(0.1)
            bar.update(1)
        bar.close()
        print("trained")
        """),
    cell("""
        from toyinterp import tables
        accuracy = 0.998
        tables.prose(accuracy=f"{accuracy:.1%}", runs=tables.span([0.5, 0.25, 0.75]))
        claim("accuracy", accuracy, anchor=1.0, source="anchor A", at_least=0.99)
        claim("key frequencies", 5, anchor=5, source="anchor A", between=(3, 6))
        claims.summary(question="Does the toy learn?", answer="Yes, like the anchor.", headline=["accuracy"])
        """),
    "The toy reaches {glue:md}`accuracy` test accuracy; its runs span {glue:md}`runs`.\n",
    cell("claims.table()"),
])

# No summary, and a failing claim (the build runs with TOYINTERP_CLAIMS_RAISE=0).
SECOND = HEADER + "\n# Toy two\n\n" + "\n".join([
    cell("""
        from toyinterp import claims
        from toyinterp.claims import claim
        claims.reset()
        claim("loss", 0.5, anchor=0.1, source="anchor B", at_most=0.2)
        claim("rank", 2, anchor=2, source="anchor B", equals=2)
        claim("steps", 100, source="ours", at_least=1)
        """),
    cell("claims.table()"),
])

CHAPTERS = {"zz_first": ("Toy one", FIRST), "aa_second": ("Toy two", SECOND)}


def config() -> dict:
    """The book's _config.yml without what needs files a mini-book lacks (static files, MathJax)."""
    cfg = yaml.safe_load((REPO / "_config.yml").read_text())
    cfg["exclude_patterns"] = ["_build/*"]
    sphinx_cfg = cfg.get("sphinx", {}).get("config", {})
    for key in ("html_static_path", "html_extra_path", "html_js_files", "mathjax_path", "html_css_files"):
        sphinx_cfg.pop(key, None)
    return cfg


@dataclass
class Build:
    root: Path
    returncode: int
    stdout: str  # jupyter-book's
    stderr: str
    pre_stdout: str = ""  # toyinterp.prebuild's (it executes the chapters; the kernels' bars go to its stderr)
    pre_stderr: str = ""

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def page(self, name: str) -> str:
        return (self.html / f"{name}.html").read_text()

    def executed(self, name: str) -> str:
        return (self.root / "_build" / "jupyter_execute" / f"{name}.ipynb").read_text()


def write(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "_config.yml").write_text(yaml.safe_dump(config()))
    toc = {"format": "jb-book", "root": "intro",
           "chapters": [{"file": "results"}] + [{"file": name} for name in CHAPTERS]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (root / "intro.md").write_text("# Mini book\n\n[Results at a glance](results.md)\n")
    shutil.copy(REPO / "book" / "results.md", root / "results.md")
    for name, (_, text) in CHAPTERS.items():
        (root / f"{name}.md").write_text(text)


def build(root: Path, timeout: float = 300) -> Build:
    """`make book`'s commands on the mini-book: ``python -m toyinterp.prebuild``, then ``jupyter-book build .``
    (warnings are errors), both with TOYINTERP_BOOK=1."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # as the real build's kernel
    env.update(TOYINTERP_BOOK="1", TOYINTERP_CLAIMS_RAISE="0")
    pre = subprocess.run([sys.executable, "-m", "toyinterp.prebuild", "."], cwd=root, env=env, capture_output=True,
                         text=True, timeout=timeout)
    proc = subprocess.run([str(JUPYTER_BOOK), "build", ".", "--warningiserror", "--nitpick", "--keep-going"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    return Build(root, pre.returncode or proc.returncode, proc.stdout, proc.stderr, pre.stdout, pre.stderr)


def _tmpdir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="toyinterp-minibook-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.lru_cache(maxsize=None)
def fresh() -> Build:
    """The mini-book, built once per test session from scratch."""
    root = _tmpdir()
    write(root)
    return build(root)
