"""Editing the chapters in JupyterLab (``make lab``): the server's pre-save hook that keeps a chapter's header.

A chapter (``book/*.md``, MyST) opens in JupyterLab as a notebook through jupytext's contents manager and is
saved back as MyST; ``jupytext.toml`` drops the metadata JupyterLab and jupytext add (jupytext's version,
cell UI state). One difference is left that no filter removes: when its kernel starts, JupyterLab rewrites
the notebook's ``kernelspec`` with the same values in another key order, and jupytext writes the YAML header
in that order. ``keep_front_matter``, the contents manager's ``pre_save_hook`` (configured by ``make lab`` in
``.venv/etc/jupyter/jupyter_server_config.json``), keeps the file's header text when the saved
header holds the same data, so a saved chapter differs from the file only where its content changed.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

_FRONT_MATTER = re.compile(r"\A---\n(.*?\n)?---\n", re.S)


def front_matter(text: str) -> tuple[str, object] | None:
    """The YAML header of a MyST text (its text, with both ``---`` lines) and its data; None without one."""
    m = _FRONT_MATTER.match(text)
    if m is None:
        return None
    try:
        return m.group(0), yaml.safe_load(m.group(1) or "")
    except yaml.YAMLError:
        return None


def keep_header(saved: str, on_disk: str) -> str:
    """``saved`` with ``on_disk``'s header text in place of its own where the two hold the same data."""
    new, old = front_matter(saved), front_matter(on_disk)
    if new is None or old is None or new[1] != old[1]:
        return saved
    return old[0] + saved[len(new[0]):]


def keep_front_matter(model: dict, path: str, contents_manager=None, **kwargs) -> None:
    """Jupyter server ``ContentsManager.pre_save_hook``: jupytext saves a text notebook as a text file model,
    which this rewrites in place (``keep_header``) before it is written over the ``.md`` file."""
    if model.get("type") != "file" or model.get("format") != "text" or not str(path).endswith(".md"):
        return
    if contents_manager is None or not hasattr(contents_manager, "_get_os_path"):
        return
    os_path = Path(contents_manager._get_os_path(path))
    if os_path.is_file():
        model["content"] = keep_header(model["content"], os_path.read_text(encoding="utf-8"))
