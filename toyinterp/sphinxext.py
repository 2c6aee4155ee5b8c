"""The executed notebook of each chapter, in its page's download menu.

A Sphinx extension (``sphinx: extra_extensions`` in ``_config.yml``). myst-nb writes each executed notebook
page to its output folder (``_build/jupyter_execute/<page>.ipynb``); when a page is written, its notebook is
copied into the HTML output beside the page's source (``_build/html/_sources/<page>.ipynb``, where
sphinx-book-theme puts one when a launch service is configured) and a ``.ipynb`` entry, a plain relative link,
is added at the top of the page's download menu. No launch service (Binder, Colab, ...) and no network: the
file is part of the book. The copy is the notebook the page shows, with its outputs; where the book drops
stderr from the page (``execute: stderr_output: remove``), the copy drops it too.

A page read again without being executed (its prose changed, its code did not: jupyter-cache matches it) is
rendered from the cached outputs, but myst-nb 1.4 then writes the *unexecuted* notebook to
``jupyter_execute`` (``myst_nb/sphinx_.py`` writes the notebook it parsed; on a cache hit the client holds a
merged copy, ``jupyter_cache.cache.main.merge_match_into_notebook``). That file is the download and the source of
the chapter's claims record (``toyinterp.results``), so ``restore_outputs`` puts the cached outputs back into it
as soon as the page is read, before the record is taken (``tests/test_results_page.py``).

Jupyter Book 1 always loads ``sphinx_thebe`` (live code cells through Binder), though the book configures no
launch service. That extension registers its page script on every ``env-before-read-docs``, which fires twice
in a build, so each page declared ``const THEBE_JS_URL`` twice (a ``SyntaxError`` in every page's console), and
the script names a CDN the book never needs. ``drop_thebe`` removes thebe's scripts and stylesheet from every
page; with no launch button nothing calls them.

Sphinx writes again only the pages whose sources changed, so a change to how this package renders pages (this
module, ``toyinterp.results``, ``toyinterp.tables``) would leave the other pages as the old code wrote them.
``page_code_version`` (a hash of those modules) is an ``html`` config value: when it changes, Sphinx's build
info no longer matches and every page is written again (from the same doctrees; nothing is re-read or
executed).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from sphinx.util import logging

LABEL = "download-notebook-button"  # sphinx-book-theme's own label for this entry (btn-download-notebook-button)


def executed_notebook(app, pagename: str) -> Path | None:
    """The executed notebook myst-nb wrote for ``pagename``, if it is a notebook page and was executed."""
    config = getattr(app.env, "mystnb_config", None)
    folder = Path(config.output_folder) if config is not None and config.output_folder else \
        Path(app.outdir).parent / "jupyter_execute"
    path = folder.joinpath(*pagename.split("/")).with_suffix(".ipynb")
    return path if path.is_file() else None


def _unexecuted(nb) -> bool:
    return any(c.cell_type == "code" and c.execution_count is None for c in nb.cells)


def restore_outputs(app, doctree) -> None:
    """After a notebook page is read: if the notebook myst-nb wrote has code cells that were never executed and
    jupyter-cache holds an execution of the same code, write the cached execution merged into it instead."""
    config = getattr(app.env, "mystnb_config", None)  # myst-nb's, with the cache path it resolved
    if config is None or config.execution_mode != "cache":
        return
    path = executed_notebook(app, app.env.docname)
    if path is None:
        return
    nb = nbformat.read(path, as_version=4)
    if not _unexecuted(nb):
        return
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(config.execution_cache_path).merge_match_into_notebook(nb)
    except KeyError:
        return  # no execution of this code in the cache (e.g. it failed): leave the notebook as myst-nb wrote it
    nbformat.write(merged, path)
    logging.getLogger(__name__).info(f"{app.env.docname}: cached outputs restored to {path.name}")


def _drops_stderr(app) -> bool:
    return getattr(app.config, "nb_output_stderr", "show") == "remove"


def copy_notebook(source: Path, target: Path, drop_stderr: bool) -> None:
    nb = nbformat.read(source, as_version=4)
    if drop_stderr:
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)


def _add_download(app, pagename, templatename, context, doctree):
    if doctree is None or app.builder.format != "html" or context.get("page_source_suffix") == ".ipynb":
        return  # not a page, or its source is a notebook already (offered as the page's source)
    source = executed_notebook(app, pagename)
    if source is None:
        return
    menu = next((b for b in context.get("header_buttons", []) if b.get("label") == "download-buttons"), None)
    if menu is None:  # the theme's download button is off
        return
    copy_notebook(source, Path(app.outdir, "_sources", *pagename.split("/")).with_suffix(".ipynb"),
                  _drops_stderr(app))
    buttons = [b for b in menu["buttons"] if b.get("label") != LABEL]
    buttons.insert(0, {
        "type": "link",
        "url": f"{context['pathto']('_sources', 1)}/{pagename}.ipynb",
        "text": ".ipynb",
        "tooltip": "Download the executed notebook",
        "icon": "fas fa-code",
        "label": LABEL,
    })
    menu["buttons"] = buttons
    logging.getLogger(__name__).debug(f"{pagename}: executed notebook offered for download")


THEBE_FILES = ("sphinx-thebe.js", "sphinx-thebe.css")  # sphinx_thebe's own static files


def _thebe(asset) -> bool:
    """Whether a page script or stylesheet is sphinx_thebe's: its files, or its inline configuration."""
    name = str(getattr(asset, "filename", asset) or "")
    body = getattr(asset, "attributes", {}).get("body", "")
    return name.endswith(THEBE_FILES) or "THEBE_JS_URL" in body


def drop_thebe(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _thebe(asset)]


PAGE_CODE = ("sphinxext.py", "results.py", "tables.py")  # the modules that decide how a page is written


def page_code_version() -> str:
    h = hashlib.sha256()
    for name in PAGE_CODE:
        h.update(name.encode() + b"\0" + Path(__file__).with_name(name).read_bytes())
    return h.hexdigest()[:16]


def setup(app):
    app.add_config_value("toyinterp_page_code", page_code_version(), "html")
    # before toyinterp.results reads the claims record from the executed notebook (its handler: priority 500)
    app.connect("doctree-read", restore_outputs, priority=400)
    # after sphinx-book-theme builds the page's header buttons (add_header_buttons, priority 501)
    app.connect("html-page-context", _add_download, priority=600)
    app.connect("html-page-context", drop_thebe)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
