"""Execute the book's chapters two at a time, into the cache that ``jupyter-book build`` then reads (``make book``).

jupyter-book executes a book's notebook pages one after another, while it reads them: in myst-nb's ``cache`` mode
(``execute_notebooks: cache`` in ``_config.yml``) a page whose code cells match a notebook in the jupyter cache is
not executed again, and any other page is executed and cached. On two cores one chapter at a time leaves throughput
unused: two training processes, each with torch's usual number of threads and OpenMP's threads asleep while they
wait (``OMP_WAIT_POLICY=PASSIVE``), get more steps done per second together than one alone (the README gives the
measurements). ``python -m toyinterp.prebuild``, which ``make book`` runs before the build, uses that:

1. it reads the notebook pages of ``_toc.yml`` as myst-nb reads them (``read_myst_markdown_notebook``) and matches
   each against the jupyter cache (``execute.cache``, by default ``_build/.jupyter_cache``) as myst-nb does
   (``match_cache_notebook``: the code cells and the kernelspec);
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
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .claims import CHAPTER_ENV
from .results import PAGE_VERSION_ENV, page_version

DEFAULT_CACHE = Path("_build") / ".jupyter_cache"  # jupyter-book's, when _config.yml names none
DEFAULT_TIMEOUT = 30  # myst-nb's nb_execution_timeout, when _config.yml sets none
JOBS = 2  # pages executed at once: the two cores this book is built on


@dataclass(frozen=True)
class Settings:
    """What ``_config.yml`` says about execution, as jupyter-book passes it to myst-nb."""

    mode: str
    cache: Path
    timeout: int
    allow_errors: bool

    @classmethod
    def of(cls, root: Path) -> "Settings":
        cfg = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8")) or {}
        ex = cfg.get("execute") or {}
        mode = ex.get("execute_notebooks", "auto")
        cache = Path(ex["cache"]) if ex.get("cache") else DEFAULT_CACHE
        return cls(mode="off" if mode is False else str(mode), cache=cache if cache.is_absolute() else root / cache,
                   timeout=int(ex.get("timeout", DEFAULT_TIMEOUT)), allow_errors=bool(ex.get("allow_errors", False)))


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


def read_notebook(path: Path):
    """The page as myst-nb reads a MyST notebook (None: a page that is not a notebook)."""
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

    text = path.read_text(encoding="utf-8")
    if not is_myst_markdown_notebook(text):
        return None
    return read_myst_markdown_notebook(text, add_source_map=True, path=str(path))


def notebook_pages(root: Path) -> dict[str, Path]:
    """docname -> path of every MyST notebook page in the table of contents."""
    pages = {}
    for name in toc_files(root):
        path = root / f"{name}.md"
        if path.is_file() and read_notebook(path) is not None:
            pages[name] = path
    return pages


def uncached(root: Path, settings: Settings) -> dict[str, Path]:
    """The notebook pages the jupyter cache has no match for: those the build would execute."""
    from jupyter_cache import get_cache

    cache = get_cache(str(settings.cache))
    todo = {}
    for name, path in notebook_pages(root).items():
        try:
            cache.match_cache_notebook(read_notebook(path))
        except KeyError:
            todo[name] = path
    return todo


def _execute_page(path: Path, out: Path, timeout: int, allow_errors: bool) -> None:
    """In the child process: execute one page as myst-nb does; write the notebook and {seconds, error} beside it."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    nb = read_notebook(path)
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True)
    nbformat.write(result.nb, str(out))
    out.with_suffix(".json").write_text(json.dumps({"seconds": result.time, "error": result.exc_string}))


def _run_child(name: str, path: Path, out: Path, settings: Settings, env: dict) -> dict:
    env = {**env, CHAPTER_ENV: name, PAGE_VERSION_ENV: page_version(path)}
    cmd = [sys.executable, "-m", "toyinterp.prebuild", "--execute", str(path), str(out),
           "--timeout", str(settings.timeout)] + (["--allow-errors"] if settings.allow_errors else [])
    proc = subprocess.run(cmd, env=env, cwd=str(path.parent))
    status = out.with_suffix(".json")
    if proc.returncode != 0 or not status.is_file():
        return {"seconds": None, "error": f"the executing process exited with {proc.returncode}"}
    return json.loads(status.read_text())


def prebuild(root: Path, jobs: int = JOBS, log=print) -> dict[str, dict]:
    """Execute and cache the pages the build would execute, ``jobs`` at a time; returns docname -> result."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    root = Path(root).resolve()
    settings = Settings.of(root)
    if settings.mode != "cache":
        log(f"prebuild: execute_notebooks is {settings.mode!r}, not 'cache': nothing to do")
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
    with tempfile.TemporaryDirectory(prefix="toyinterp-prebuild-") as tmp, cf.ThreadPoolExecutor(jobs) as pool:
        outs = {name: Path(tmp) / f"{i}.ipynb" for i, name in enumerate(todo)}
        futures = {pool.submit(_run_child, name, path, outs[name], settings, env): name for name, path in todo.items()}
        for future in cf.as_completed(futures):
            name = futures[future]
            result = results[name] = future.result()
            if result["error"]:
                log(f"prebuild: {name}: execution failed; not cached (the build executes it again and reports it)")
                continue
            nb = nbformat.read(str(outs[name]), as_version=4)
            bundle = CacheBundleIn(nb, str(todo[name]), data={"execution_seconds": result["seconds"]})
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            log(f"prebuild: {name}: executed in {result['seconds']:.2f} seconds, cached")
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.prebuild", description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=".", help="the book's folder (with _config.yml and _toc.yml)")
    ap.add_argument("--jobs", type=int, default=JOBS, help=f"pages executed at once (default {JOBS})")
    ap.add_argument("--execute", nargs=2, metavar=("PAGE", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help=argparse.SUPPRESS)
    ap.add_argument("--allow-errors", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.execute:
        _execute_page(Path(args.execute[0]), Path(args.execute[1]), args.timeout, args.allow_errors)
        return 0
    if args.jobs < 1:
        ap.error(f"--jobs must be at least 1, got {args.jobs}")
    prebuild(Path(args.root), jobs=args.jobs, log=lambda msg: print(msg, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
