"""Progress bars for long work (training, sweeps over snapshots).

``bar(**tqdm_kwargs)`` returns a ``tqdm`` bar. Every long loop in the package makes its bar here, so where
bars are shown is decided in one place. This module is not part of the artifact store's key: changing how
progress is shown never invalidates a trained model.

Where the bar goes:

* normally (a terminal, a notebook opened in Jupyter, ``python -m toyinterp.run`` through papermill), to
  ``sys.stderr`` as ``tqdm`` does: in a notebook that is the cell's output;
* when the book is built (``$TOYINTERP_BOOK`` set, as ``make book`` does), to the terminal that runs
  ``jupyter-book build``, and not into the notebook: the page's outputs never hold a bar, and the build shows
  the chapter (``$TOYINTERP_CHAPTER``, set by ``toyinterp.results``) and the bar with its step rate and ETA.
  The Jupyter kernel inherits the build's stderr as its file descriptor 2; ipykernel moves that descriptor
  to a copy (``sys.stderr.fileno()``) and captures fd 2 itself, so the bar is written to the copy.
"""
from __future__ import annotations

import os
import sys

from tqdm import tqdm

BOOK_ENV = "TOYINTERP_BOOK"
CHAPTER_ENV = "TOYINTERP_CHAPTER"  # = toyinterp.claims.CHAPTER_ENV

_terminal = None


def building_book() -> bool:
    return os.environ.get(BOOK_ENV, "") not in ("", "0")


def terminal():
    """A text stream on the terminal (or log) this process was started with, past a Jupyter kernel's capture."""
    global _terminal
    if _terminal is not None and not _terminal.closed:
        return _terminal
    err, fd = sys.stderr, None
    if err is not sys.__stderr__:  # a Jupyter kernel's stream: what is written to it goes to the notebook
        try:
            fd = err.fileno()  # ipykernel capturing fd 2: its copy of the original stderr
        except (AttributeError, OSError, ValueError):  # not capturing: fd 2 is still the terminal
            fd = None
    if fd is None:
        _terminal = sys.__stderr__ if sys.__stderr__ is not None else err
    else:
        _terminal = os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")
    return _terminal


def bar(**kwargs) -> tqdm:
    """A progress bar; ``kwargs`` are ``tqdm``'s (``total``, ``initial``, ``desc``, ``unit``, ``disable``, ...)."""
    kwargs.setdefault("mininterval", 2.0)
    if building_book() and "file" not in kwargs:
        kwargs["file"] = terminal()
        chapter = os.environ.get(CHAPTER_ENV)
        if chapter:
            kwargs["desc"] = f"{chapter}: {kwargs['desc']}" if kwargs.get("desc") else chapter
    return tqdm(**kwargs)
