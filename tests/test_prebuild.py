"""toyinterp.prebuild: the chapters executed two at a time into the jupyter cache, so the build executes none."""
import re
import textwrap
from pathlib import Path

from toyinterp import prebuild

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = ["book/01_grokking", "book/02_bitnet", "book/03_dihedral", "book/04_bussmann", "book/05_polynomial",
            "book/06_min_of_two"]


def test_the_book_s_notebook_pages_in_the_order_of_its_table_of_contents():
    assert prebuild.toc_files(REPO)[:2] == ["book/intro", "book/results"]
    assert list(prebuild.notebook_pages(REPO)) == CHAPTERS  # intro and results execute nothing
    settings = prebuild.Settings.of(REPO)
    assert settings.mode == "cache" and settings.timeout == 3600 and not settings.allow_errors
    assert settings.cache == REPO / "_build" / ".jupyter_cache"  # where jupyter-book keeps it


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
    assert lines[-1] == "prebuild: broken: execution failed; not cached (the build executes it again and reports it)"
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
    assert lines == ["prebuild: execute_notebooks is 'force', not 'cache': nothing to do"]
