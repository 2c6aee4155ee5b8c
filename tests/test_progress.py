"""Progress you can see (issue 16 item 3): building the book (TOYINTERP_BOOK=1) shows in the build's terminal
which chapter executes and the trainer's bar with its rate and ETA, and no bar (or tqdm warning) reaches a
page or an executed notebook; elsewhere a bar is tqdm's usual one on sys.stderr."""
import io
import json
import os
import re
import sys

import pytest

from toyinterp import progress

# tqdm's meter: "12/30 [00:01<00:01,  9.95step/s]": done/total [elapsed<ETA, rate]
METER = r"\d+/30 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+step/s\]"


@pytest.fixture
def fresh_terminal(monkeypatch):
    monkeypatch.setattr(progress, "_terminal", None)


def test_a_bar_outside_the_book_is_tqdms_on_stderr(monkeypatch, fresh_terminal):
    monkeypatch.delenv(progress.BOOK_ENV, raising=False)
    monkeypatch.setenv(progress.CHAPTER_ENV, "book/01_x")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    b = progress.bar(total=30, desc="train T", unit="step", mininterval=0)
    b.update(30)
    b.close()
    assert b.fp is not None and re.search(r"train T: 100%.*" + METER, err.getvalue())
    assert "book/01_x" not in err.getvalue()


class KernelStream(io.StringIO):
    """ipykernel's sys.stderr: what is written goes to the notebook; fileno() is the saved terminal's fd,
    or (not capturing fd 2) unsupported."""

    def __init__(self, fd=None):
        super().__init__()
        self.fd = fd

    def fileno(self):
        if self.fd is None:
            raise io.UnsupportedOperation("fileno")
        return self.fd


def test_in_a_book_build_the_bar_goes_to_the_kernels_terminal(monkeypatch, fresh_terminal):
    monkeypatch.setenv(progress.BOOK_ENV, "1")
    monkeypatch.setenv(progress.CHAPTER_ENV, "book/01_x")
    r, w = os.pipe()
    notebook = KernelStream(fd=w)
    monkeypatch.setattr(sys, "stderr", notebook)
    b = progress.bar(total=30, desc="train T", unit="step", mininterval=0)
    b.update(30)
    b.close()
    progress.terminal().close()
    os.close(w)
    with os.fdopen(r) as f:
        terminal = f.read()
    assert re.search(r"book/01_x: train T: 100%.*" + METER, terminal)
    assert notebook.getvalue() == ""


def test_in_a_book_build_without_fd_capture_the_bar_goes_to_the_original_stderr(monkeypatch, fresh_terminal):
    monkeypatch.setenv(progress.BOOK_ENV, "1")
    monkeypatch.delenv(progress.CHAPTER_ENV, raising=False)
    notebook, original = KernelStream(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", notebook)
    monkeypatch.setattr(sys, "__stderr__", original)
    b = progress.bar(total=30, desc="train T", unit="step", mininterval=0)
    b.update(30)
    b.close()
    assert re.search(r"train T: 100%.*" + METER, original.getvalue())
    assert notebook.getvalue() == ""


def test_a_book_build_shows_the_chapter_and_its_bar_in_the_terminal_and_not_in_pages():
    """The mini-book (tests/minibook.py), built as `make book` builds the book: kernels capture their fd 2."""
    import minibook

    build = minibook.fresh()
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # which chapter executes (toyinterp.prebuild's lines), then its bar with rate and ETA, named by the chapter,
    # on the terminal that runs the build
    assert re.search(r"prebuild: executing 2 page\(s\).*zz_first", build.pre_stdout)
    assert re.search(r"prebuild: zz_first: executed in [\d.]+ seconds, cached", build.pre_stdout)
    lines = re.findall(r"zz_first: train Toy: +\d+%.*" + METER, build.pre_stderr)
    assert len(lines) >= 3, build.pre_stderr[-3000:]  # the bar moves: several updates, the last at 100 %
    assert re.search(r"zz_first: train Toy: 100%.*30/30", build.pre_stderr)
    for name in minibook.CHAPTERS:
        outputs = json.dumps([c.get("outputs", []) for c in json.loads(build.executed(name))["cells"]])
        for where in (build.page(name), outputs):
            assert "step/s" not in where and "IProgress" not in where
        assert "train Toy" not in outputs
    assert "trained" in build.page("zz_first")  # the cell's stdout is still on the page
