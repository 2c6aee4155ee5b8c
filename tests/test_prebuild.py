"""toyinterp.prebuild: the chapters executed two at a time into the jupyter cache, so the build executes none."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toyinterp import prebuild

REPO = Path(__file__).resolve().parents[1]
# a page that runs for a minute and, like prebuild's child (_execute_page), stops on SIGINT even if started ignoring it
SLEEPER = "import signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); time.sleep(60)"
CHAPTERS = ["book/01_grokking", "book/02_bitnet", "book/03_dihedral", "book/04_bussmann", "book/05_polynomial",
            "book/06_min_of_two"]


def test_the_book_s_notebook_pages_in_the_order_of_its_table_of_contents():
    assert prebuild.toc_files(REPO)[:2] == ["book/intro", "book/results"]
    settings = prebuild.Settings.of(REPO)
    assert list(prebuild.notebook_pages(REPO, settings)) == CHAPTERS  # intro and results execute nothing
    assert settings.mode == "cache" and settings.timeout == 3600 and not settings.allow_errors
    assert not settings.in_temp and settings.exclude == ()
    assert settings.cache == REPO / "_build" / ".jupyter_cache"  # where jupyter-book keeps it
    assert "colon_fence" in settings.myst_extensions and "dollarmath" in settings.myst_extensions


def test_the_build_reads_every_chapter_the_prebuild_executed_from_the_cache():
    import minibook

    build = minibook.fresh()
    assert build.returncode == 0, build.pre_stdout[-3000:] + build.pre_stderr[-3000:] + build.stdout[-3000:]
    for name in minibook.CHAPTERS:
        assert re.search(rf"prebuild: {name}: executed in [\d.]+ seconds, cached", build.pre_stdout)
        assert re.search(rf"{name}\.md: Using cached notebook", build.stdout), build.stdout[-3000:]
    assert "Executing notebook" not in build.stdout  # jupyter-book executed nothing a second time
    # and a prebuild now finds nothing to do
    lines = []
    assert prebuild.prebuild(build.root, log=lines.append) == {}
    assert lines == ["prebuild: every notebook page is cached"]


def test_a_page_that_fails_is_reported_and_not_cached(tmp_path):
    import minibook

    (tmp_path / "_config.yml").write_text("execute:\n  execute_notebooks: cache\n  timeout: 120\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: broken\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "broken.md").write_text(minibook.HEADER + "\n# Broken\n\n" + minibook.cell("x = 1")
                                        + minibook.cell("raise ValueError('a claim failed')"))
    lines = []
    results = prebuild.prebuild(tmp_path, log=lines.append)
    assert "ValueError" in results["broken"]["error"]
    assert lines[-1] == ("prebuild: broken: execution failed (ValueError: a claim failed); not cached (the build "
                         "executes it again and reports it)")
    settings = prebuild.Settings.of(tmp_path)
    assert list(prebuild.uncached(tmp_path, settings)) == ["broken"]  # the build will execute it, and fail


def test_nothing_to_do_unless_the_book_executes_in_cache_mode(tmp_path):
    (tmp_path / "_config.yml").write_text(textwrap.dedent("""\
        execute:
          execute_notebooks: force
        """))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    lines = []
    assert prebuild.prebuild(tmp_path, log=lines.append) == {}
    assert lines == ["prebuild: execute_notebooks is 'force', not 'cache': nothing to do (the build executes as "
                     "configured)"]


def test_an_error_while_pages_execute_starts_no_further_page(tmp_path, monkeypatch):
    import time

    import minibook
    import pytest

    names = ["p1", "p2", "p3", "p4", "p5"]
    (tmp_path / "_config.yml").write_text("execute:\n  execute_notebooks: cache\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: p1\nchapters:\n"
                                       + "".join(f"  - file: {n}\n" for n in names[1:]))
    for n in names:
        (tmp_path / f"{n}.md").write_text(minibook.HEADER + f"\n# {n}\n\n" + minibook.cell(f"x = '{n}'"))
    started, procs = [], []

    def start(root, name, path, out, env):  # a page that would run for a minute
        started.append(name)
        procs.append(prebuild.spawn([sys.executable, "-c", SLEEPER]))  # as prebuild starts its children
        return procs[-1]

    def ctrl_c():  # pressed while the first two pages run
        raise KeyboardInterrupt

    monkeypatch.setattr(prebuild, "_start_child", start)
    monkeypatch.setattr(prebuild, "_pause", ctrl_c)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        prebuild.prebuild(tmp_path, jobs=2, log=lambda msg: None)
    assert started == ["p1", "p2"]  # p3-p5 never start
    assert all(p.poll() is not None for p in procs)  # the two running pages were stopped, not waited for
    assert time.perf_counter() - t0 < 30


def test_the_child_stops_on_sigint_even_when_started_ignoring_it(tmp_path):
    import signal
    import time

    import minibook

    (tmp_path / "_config.yml").write_text("execute:\n  execute_notebooks: cache\n  timeout: 120\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: slow\n")
    (tmp_path / "slow.md").write_text(minibook.HEADER + "\n# Slow\n\n" + minibook.cell("import time; time.sleep(60)"))
    out = tmp_path / "out.ipynb"
    ignoring = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 (as a background job starts)
    proc = subprocess.Popen([sys.executable, "-m", "toyinterp.prebuild", str(tmp_path), "--execute",
                             str(tmp_path / "slow.md"), str(out)], preexec_fn=ignoring)
    time.sleep(8)  # the kernel runs the minute-long cell
    assert proc.poll() is None
    t0 = time.perf_counter()
    prebuild._stop([proc])
    assert proc.returncode is not None and time.perf_counter() - t0 < 25  # interrupted, not killed at 30 s


def test_a_child_stops_on_sigint_sent_before_its_python_starts():
    """The race a fresh-clone CI hit: the parent ignores SIGINT (as a pytest-xdist worker or a background job does),
    and _stop's SIGINT reaches the child before its Python has set a handler. ``spawn`` starts the child with
    SIGINT at its default action, so it ends at once instead of running until it is killed."""
    import signal
    import time

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = prebuild.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
        proc.send_signal(signal.SIGINT)  # at once: the child's interpreter is still starting
        t0 = time.perf_counter()
        proc.wait(timeout=20)
        assert time.perf_counter() - t0 < 20
    finally:
        signal.signal(signal.SIGINT, previous)


def test_prose_quotes_the_numbers_its_page_computed():
    import minibook

    build = minibook.fresh()
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    page = re.sub(r"<[^>]+>", "", build.page("zz_first"))
    assert "The toy reaches 99.8% test accuracy; its runs span 0.25–0.75." in page
    assert "glue" not in page

