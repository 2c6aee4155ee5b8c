"""Run one chapter with papermill: ``python -m toyinterp.run <chapter> -p name value ...``.

The MyST page ``book/[NN_]<chapter>.md`` is converted to a notebook (jupytext keeps
the ``parameters`` tag), the overrides are checked against the names in that cell
(an unknown name is one clear error, before anything runs), papermill executes it,
the executed notebook lands under ``runs/``, and the chapter's claims table is
printed. The exit status is non-zero when the notebook raised or a claim failed.

    python -m toyinterp.run grokking                      # the CPU-sized study
    python -m toyinterp.run grokking -p device cuda -p steps 40000
    python -m toyinterp.run grokking --list               # the parameters and their defaults
"""
from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import yaml

from . import claims

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
CHAPTERS = ("grokking", "bitnet", "dihedral", "bussmann", "polynomial", "min_of_two")


class RunError(SystemExit):
    prog = "toyinterp.run"

    def __init__(self, msg: str):
        self.msg = msg
        super().__init__(f"{self.prog}: error: {msg}")


def chapter_page(name: str) -> Path:
    """The MyST page of chapter ``name`` (the file may carry a number prefix)."""
    if name not in CHAPTERS:
        raise RunError(f"unknown chapter {name!r}; chapters are: {', '.join(CHAPTERS)}")
    pages = [p for p in sorted(BOOK.glob("*.md")) if p.stem == name or p.stem.split("_", 1)[-1] == name]
    if not pages:
        raise RunError(f"chapter {name!r} has no page in {BOOK} yet")
    return pages[0]


def to_notebook(page: Path):
    import jupytext

    return jupytext.read(page)


def parameters_of(nb) -> dict:
    """name -> default value of the cell tagged ``parameters``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise RunError("the chapter has no cell tagged 'parameters'")
    out = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        out[t.id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[t.id] = ast.unparse(node.value)
    return out


def _check_kind(name: str, value, default) -> None:
    """One clear error for an override of the wrong kind, before any work: text where the default is a number
    (YAML reads ``1e-3`` as text), or a scalar where it is a list. Finer checks are each chapter's own."""
    if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
        try:
            float(value)
            hint = f" (YAML reads {value!r} as text: write it with a decimal point, e.g. 1.0e-3, or in full)"
        except ValueError:
            hint = ""
        raise RunError(f"parameter {name!r} takes a number (default {default!r}), got the text {value!r}{hint}")
    if isinstance(default, list) and not isinstance(value, list):
        raise RunError(f"parameter {name!r} takes a list (default {default!r}), got {value!r}: "
                       f"quote it, e.g. -p {name} \"[1, 2]\"")


def parse_overrides(pairs, known: dict) -> dict:
    """``-p NAME VALUE`` pairs as parameters (values read as YAML), each a parameter of the chapter (``known``:
    name -> default) and of the default's kind (``_check_kind``)."""
    out = {}
    for name, raw in pairs:
        if name not in known:
            raise RunError(f"unknown parameter {name!r}; this chapter's parameters are: {', '.join(known)}")
        out[name] = yaml.safe_load(raw)
        _check_kind(name, out[name], known[name])
    return out


def execute(nb, params: dict, out_nb: Path, *, keep_going: bool = False, log_output: bool = True):
    """Execute the chapter notebook ``nb`` with papermill (kernel in ``book/``) into ``out_nb``.

    Returns ``(failed, claims)``: ``failed`` is ``"ErrorName: message"`` when the notebook raised, else None;
    ``claims`` are the rows the chapter recorded (up to the error, if any). ``keep_going`` records a failing
    claim and goes on (``claims.RAISE_ENV = "0"``). Also used by each run of ``toyinterp.sweep``.
    """
    import nbformat
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "chapter.ipynb"
        nbformat.write(nb, src)
        claims_file = Path(tmp) / "claims.json"
        env = {claims.CLAIMS_FILE_ENV: str(claims_file)} | ({claims.RAISE_ENV: "0"} if keep_going else {})
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        failed = None
        try:
            pm.execute_notebook(str(src), str(out_nb), parameters=params, cwd=str(BOOK), kernel_name="python3",
                                progress_bar=False, log_output=log_output, stdout_file=None)
        except pm.PapermillExecutionError as err:
            failed = f"{err.ename}: {err.evalue}"
        finally:
            for k, v in saved.items():  # leave the caller's environment as it was
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
        rows = claims.load(claims_file) if claims_file.exists() else []
    return failed, rows


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", help=f"one of: {', '.join(CHAPTERS)}")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--out", default=str(REPO / "runs"), help="where executed notebooks go (default runs/)")
    ap.add_argument("--list", action="store_true", help="print the chapter's parameters and exit")
    ap.add_argument("--keep-going", action="store_true",
                    help="record a failing claim and go on (every claim gets a value); the exit status is still 1")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    page = chapter_page(args.chapter)
    nb = to_notebook(page)
    known = parameters_of(nb)
    if args.list:
        for k, v in known.items():
            print(f"{k} = {v!r}")
        return 0
    params = parse_overrides(args.parameter, known)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_nb = out_dir / f"{page.stem}-{stamp}.ipynb"
    failed, rows = execute(nb, params, out_nb, keep_going=args.keep_going)
    print(f"\nexecuted notebook: {out_nb}")
    print(f"claims of {args.chapter} ({len(rows)}):\n")
    print(claims.Table(rows))
    if failed:
        print(f"\nthe chapter stopped with {failed}", file=sys.stderr)
        return 1
    if not all(c.holds for c in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
