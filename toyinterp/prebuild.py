"""Execute the book's chapters two at a time, into the cache that ``jupyter-book build`` then reads (``make book``).

jupyter-book executes a book's notebook pages one after another, while it reads them: in myst-nb's ``cache`` mode
(``execute_notebooks: cache`` in ``_config.yml``) a page whose code cells match a notebook in the jupyter cache is
not executed again, and any other page is executed and cached. On two cores one chapter at a time leaves throughput
unused: two training processes, each with torch's usual number of threads and OpenMP's threads asleep while they
wait (``OMP_WAIT_POLICY=PASSIVE``), get more steps done per second together than one alone (the README gives the
measurements). ``python -m toyinterp.prebuild``, which ``make book`` runs before the build, uses that:

1. it takes the execution settings and MyST extensions jupyter-book gives myst-nb (``get_final_config``), reads
   the notebook pages of ``_toc.yml`` as myst-nb reads them (``read_myst_markdown_notebook``) and matches each
   against the jupyter cache (by default ``_build/.jupyter_cache``) as myst-nb does (``match_cache_notebook``: the
   code cells and the kernelspec); pages excluded from execution, or with settings of their own (``mystnb`` in
   their front matter), are left to the build, and so is everything unless the mode is ``cache`` (not in a
   temporary folder);
2. it executes the pages without a match ``--jobs`` at a time (default 2), in the order of the table of contents,
   each in a process of its own, with the environment the build gives a page it executes (``toyinterp.results``:
   the page's docname and the version of its code cells; ``$TOYINTERP_BOOK`` passes through, so the training
   bars go to this terminal, named by chapter) and myst-nb's call (``single_nb_execution`` with the book's
   timeout and ``allow_errors``, in the page's folder);
3. it caches each executed notebook as myst-nb caches one (``cache_notebook_bundle``), so that the build reads
   every chapter from the cache and executes none (``tests/test_prebuild.py`` checks the build says so).

Nothing in a chapter's execution changes: the same kernel, code, parameters, number of threads, so the same floats
and the same store keys. A page whose execution fails is not cached: the build executes it again and reports the
failure as it always does. ``--jobs 1`` executes one page at a time (what the build alone would do).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .results import page_environment

DEFAULT_CACHE = Path("_build") / ".jupyter_cache"  # jupyter-book's, when _config.yml names none
JOBS = 2  # pages executed at once: the two cores this book is built on
POLL_S = 0.5  # how often the running pages are looked at


@dataclass(frozen=True)
class Settings:
    """The execution settings jupyter-book gives myst-nb for this book (``get_final_config``: its defaults under
    ``_config.yml``), and the MyST parser's extensions, with which myst-nb reads a page."""

    mode: str
    cache: Path
    timeout: int
    allow_errors: bool
    in_temp: bool
    exclude: tuple[str, ...]
    myst_extensions: tuple[str, ...]

    @classmethod
    def of(cls, root: Path) -> "Settings":
        from jupyter_book.config import get_final_config

        cfg, _ = get_final_config(user_yaml=root / "_config.yml", cli_config={"latex_individualpages": False},
                                  sourcedir=root)
        cache = Path(cfg.get("nb_execution_cache_path") or DEFAULT_CACHE)
        return cls(mode=str(cfg.get("nb_execution_mode")), cache=cache if cache.is_absolute() else root / cache,
                   timeout=int(cfg.get("nb_execution_timeout")),
                   allow_errors=bool(cfg.get("nb_execution_allow_errors")),
                   in_temp=bool(cfg.get("nb_execution_in_temp")),
                   exclude=tuple(cfg.get("nb_execution_excludepatterns") or ()),
                   myst_extensions=tuple(cfg.get("myst_enable_extensions") or ()))

    def md_config(self):
        from myst_parser.config.main import MdParserConfig

        return MdParserConfig(enable_extensions=set(self.myst_extensions))


def toc_files(root: Path) -> list[str]:
    """The docnames of ``_toc.yml`` (root first, then in the order listed, parts and sections included)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    out: list[str] = []

    def visit(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                out.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    visit(child)

    visit({"file": toc.get("root"), **{k: toc.get(k) for k in ("parts", "chapters", "sections")}})
    return [name[:-3] if name.endswith(".md") else name for name in out]


def read_notebook(path: Path, settings: Settings):
    """The page as myst-nb reads a MyST notebook (None: a page that is not a notebook)."""
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

    text = path.read_text(encoding="utf-8")
    if not is_myst_markdown_notebook(text):
        return None
    return read_myst_markdown_notebook(text, config=settings.md_config(), add_source_map=True, path=str(path))


def notebook_pages(root: Path, settings: Settings) -> dict[str, tuple[Path, object]]:
    """docname -> (path, notebook) of every MyST notebook page in the table of contents that the build would
    execute: not excluded from execution, and with no page-level ``mystnb`` settings (those are left to the build)."""
    pages = {}
    for name in toc_files(root):
        path = root / f"{name}.md"
        if not path.is_file() or any(fnmatch.fnmatch(str(path), pat) for pat in settings.exclude):
            continue
        nb = read_notebook(path, settings)
        if nb is not None and "mystnb" not in nb.metadata:
            pages[name] = (path, nb)
    return pages


def uncached(root: Path, settings: Settings) -> dict[str, Path]:
    """The notebook pages the jupyter cache has no match for: those the build would execute."""
    from jupyter_cache import get_cache

    cache = get_cache(str(settings.cache))
    todo = {}
    for name, (path, nb) in notebook_pages(root, settings).items():
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo[name] = path
    return todo


def _execute_page(root: Path, path: Path, out: Path) -> None:
    """In the child process: execute one page as myst-nb does; write the notebook and {seconds, error} beside it."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    # make sure Ctrl-C (or _stop's SIGINT) interrupts the execution, so that nbclient shuts the kernel down, even
    # when this process was started with SIGINT ignored (as a background job's, or a pytest-xdist worker's, are)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    settings = Settings.of(root)
    nb = read_notebook(path, settings)
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=settings.timeout,
                                 allow_errors=settings.allow_errors, meta_override=True)
    nbformat.write(result.nb, str(out))
    out.with_suffix(".json").write_text(json.dumps({"seconds": result.time, "error": result.exc_string}))


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(cmd: list[str], **kw) -> subprocess.Popen:
    """``subprocess.Popen(cmd, **kw)`` with SIGINT at its default action in the child from its first instruction.
    A parent that ignores SIGINT (a background job, a pytest-xdist worker) passes that on, and a SIGINT from
    ``_stop`` that came before the child's Python set its own handler was then lost: the child ran on until
    ``_stop`` killed it 30 s later (a fresh-clone CI measured 60 s for two pages)."""
    return subprocess.Popen(cmd, preexec_fn=_default_sigint, **kw)


def _start_child(root: Path, name: str, path: Path, out: Path, env: dict) -> subprocess.Popen:
    env = {**env, **{k: v for k, v in page_environment(name, path).items() if v is not None}}  # as the build's
    cmd = [sys.executable, "-m", "toyinterp.prebuild", str(root), "--execute", str(path), str(out)]
    return spawn(cmd, env=env, cwd=str(path.parent))


def _child_result(proc: subprocess.Popen, out: Path) -> dict:
    status = out.with_suffix(".json")
    if proc.returncode != 0 or not status.is_file():
        return {"seconds": None, "error": f"the executing process exited with status {proc.returncode}"}
    return json.loads(status.read_text())


def _pause() -> None:
    time.sleep(POLL_S)


def _stop(procs) -> None:
    """Interrupt running children as Ctrl-C would (nbclient then shuts their kernels down); kill what lingers."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def prebuild(root: Path, jobs: int = JOBS, log=print) -> dict[str, dict]:
    """Execute and cache the pages the build would execute, ``jobs`` at a time; returns docname -> result."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    root = Path(root).resolve()
    settings = Settings.of(root)
    if settings.mode != "cache" or settings.in_temp:
        why = (f"execute_notebooks is {settings.mode!r}, not 'cache'" if settings.mode != "cache"
               else "run_in_temp is set")
        log(f"prebuild: {why}: nothing to do (the build executes as configured)")
        return {}
    todo = uncached(root, settings)
    if not todo:
        log("prebuild: every notebook page is cached")
        return {}
    jobs = max(1, min(jobs, len(todo)))
    log(f"prebuild: executing {len(todo)} page(s), {jobs} at a time: {', '.join(todo)}")
    env = dict(os.environ)
    if jobs > 1:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # threads of a waiting process sleep, not spin
    cache = get_cache(str(settings.cache))
    results = {}
    with tempfile.TemporaryDirectory(prefix="toyinterp-prebuild-") as tmp:
        outs = {name: Path(tmp) / f"{i}.ipynb" for i, name in enumerate(todo)}
        queue, running = list(todo), {}  # running: name -> child process
        try:
            while queue or running:
                while queue and len(running) < jobs:
                    name = queue.pop(0)
                    running[name] = _start_child(root, name, todo[name], outs[name], env)
                _pause()
                for name, proc in list(running.items()):
                    if proc.poll() is None:
                        continue
                    del running[name]
                    result = results[name] = _child_result(proc, outs[name])
                    if result["error"]:
                        last = re.sub(r"\x1b\[[0-9;]*m", "", result["error"]).strip().splitlines()[-1]  # no colours
                        log(f"prebuild: {name}: execution failed ({last}); not cached (the build executes it "
                            "again and reports it)")
                        continue
                    nb = nbformat.read(str(outs[name]), as_version=4)
                    bundle = CacheBundleIn(nb, str(todo[name]), data={"execution_seconds": result["seconds"]})
                    cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
                    log(f"prebuild: {name}: executed in {result['seconds']:.2f} seconds, cached")
        except BaseException:  # Ctrl-C or an error here: stop the running pages, start no other
            _stop(list(running.values()))
            raise
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.prebuild", description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=".", help="the book's folder (with _config.yml and _toc.yml)")
    ap.add_argument("--jobs", type=int, default=JOBS, help=f"pages executed at once (default {JOBS})")
    ap.add_argument("--execute", nargs=2, metavar=("PAGE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.execute:
        _execute_page(Path(args.root).resolve(), Path(args.execute[0]), Path(args.execute[1]))
        return 0
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    prebuild(Path(args.root), jobs=args.jobs, log=lambda msg: print(msg, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
