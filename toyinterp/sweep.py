"""Run one chapter on several seeds with Ray: ``python -m toyinterp.sweep <chapter> --seeds 1 2 3 -p name value ...``.

Each seed is one run of the chapter exactly as ``python -m toyinterp.run`` makes it (the MyST page through
papermill, the overrides checked against its ``parameters`` cell), with claims in keep-going mode so every claim
gets a value on every seed. The runs are Ray tasks: a local Ray instance by default, or the cluster at
``--address`` (or ``$RAY_ADDRESS``). The sweep prints one row per claim and one column per seed, and the number of
seeds on which the claim holds; it writes the executed notebooks, ``summary.json`` and ``summary.md`` under
``runs/sweep-<chapter>-<key>/``, where the key hashes the chapter, the overrides and the code (the package and
the page). A seed that finished there before is not run again. The exit status is non-zero when a run failed
(the notebook raised, on both tries) or a claim failed on some seed.

    python -m toyinterp.sweep dihedral --seeds 1 2 3
    python -m toyinterp.sweep grokking --seeds 1 2 3 4 -p device cuda -p steps 40000 --address HEAD:6379
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import socket
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from . import claims, run, tables

SEED = "seed"  # the parameter every chapter has
ATTEMPTS = 2  # a run whose notebook raised is tried once more; Ray retries a crashed worker once on its own
PROBE_TIMEOUT_S = 5.0


class SweepError(run.RunError):
    prog = "toyinterp.sweep"


# ---------------------------------------------------------------------------------------------- checking input
def check_seeds(seeds) -> list[int]:
    if not seeds:
        raise SweepError("give at least one seed: --seeds 1 2 3")
    dups = sorted({s for s in seeds if seeds.count(s) > 1})
    if dups:
        raise SweepError(f"duplicate seeds: {', '.join(map(str, dups))}")
    return list(seeds)


def check_address(address: str | None) -> str | None:
    """None (start a local Ray instance), ``"auto"``, or a ``HOST:PORT`` (``ray://HOST:PORT``) that answers."""
    if address in (None, "", "local"):
        return None
    if address == "auto":  # Ray looks for the cluster started on this machine; its own error says if none
        return address
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"the Ray address must be HOST:PORT (the head's `ray start --head` port, 6379 by "
                         f"default), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as err:
        raise SweepError(f"no Ray cluster answers at {address} ({err or type(err).__name__}); start one with "
                         f"`ray start --head` on that machine, or leave out --address and RAY_ADDRESS to run "
                         f"on a local Ray instance") from None
    return address


def code_version(page: Path) -> str:
    """A hash of the package's source and the chapter's page: a finished run is reused only under the same code."""
    h = hashlib.sha256()
    for path in [page, *sorted((run.REPO / "toyinterp").glob("*.py"))]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def sweep_dir(out: Path, chapter: str, params: dict, code: str) -> Path:
    key = json.dumps({"chapter": chapter, "params": params, "code": code}, sort_keys=True, default=str)
    return out / f"sweep-{chapter}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def worker_env() -> dict:
    """The ``TOYINTERP_*`` settings of this process (the artifact store, ...), for every run."""
    env = {k: v for k, v in os.environ.items()
           if k.startswith("TOYINTERP_") and k not in (claims.CLAIMS_FILE_ENV, claims.RAISE_ENV)}
    if "TOYINTERP_STORE" in env:
        env["TOYINTERP_STORE"] = str(Path(env["TOYINTERP_STORE"]).resolve())
    return env


# ------------------------------------------------------------------------------------------------- one run
def run_seed(nb_json: str, params: dict, env: dict) -> dict:
    """One run, in a Ray worker: the chapter with ``params`` through papermill, claims in keep-going mode.

    Returns the executed notebook's text and the claims, so the driver writes every file (the worker may be
    on another machine). ``failed`` is the error when the notebook raised.
    """
    import nbformat

    os.environ.update(env)
    os.chdir(run.REPO)  # the repository of this node's toyinterp; the kernel itself runs in book/, as in run
    nb = nbformat.reads(nb_json, as_version=4)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "executed.ipynb"
        failed, rows = run.execute(nb, params, out, keep_going=True, log_output=False)
        text = out.read_text() if out.exists() else ""
    return {"failed": failed, "claims": [asdict(c) for c in rows], "notebook": text,
            "seconds": round(time.time() - start, 1), "node": socket.gethostname()}


def _crashed(err: Exception) -> dict:
    lines = str(err).strip().splitlines() or [""]
    return {"failed": f"the run crashed: {type(err).__name__}: {lines[-1]}", "claims": [], "notebook": "",
            "seconds": None, "node": None}


# --------------------------------------------------------------------------------------------------- Ray
@contextlib.contextmanager
def _stderr_to_devnull():
    """Silence file descriptor 2 (C++ code writes there directly); Python exceptions still carry the error."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def start_ray(address: str | None, num_cpus: float, num_gpus: int):
    try:
        import ray
    except ImportError:
        raise SweepError("Ray is not installed; install the sweep extra: .venv/bin/pip install -c constraints.txt "
                         "-e '.[sweep]'") from None
    quiet = dict(logging_level=logging.WARNING, log_to_driver=False)
    try:
        if address is None:
            # Ray turns token authentication on for a new local instance and warns that it did: not news here.
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
        else:
            # Where something other than a Ray head answers the probe (the dashboard's port, say), Ray's C++ client
            # retries for 20 s with a warning on stderr each second, then raises; a live head answers at once.
            with _stderr_to_devnull():
                ray.init(address=address, **quiet)
    except Exception as err:
        where = "start a local Ray instance" if address is None else f"connect to the Ray cluster at {address}"
        hint = ""
        if address is not None and os.environ.get("RAY_AUTH_MODE") != "token":
            hint = ("; if the cluster uses token authentication (`ray start --head` turns it on where "
                    "~/.ray/auth_token exists), set RAY_AUTH_MODE=token and give this machine the cluster's token "
                    "(in ~/.ray/auth_token or $RAY_AUTH_TOKEN)")
        raise SweepError(f"could not {where}: {type(err).__name__}: {err}{hint}") from None
    have = ray.cluster_resources()
    for name, need in (("CPU", num_cpus), ("GPU", num_gpus)):
        if need and have.get(name, 0) < need:
            ray.shutdown()
            raise SweepError(f"each run asks for {need:g} {name}, but the Ray cluster has {have.get(name, 0):g}"
                             + (" (device cuda asks each run for a GPU)" if name == "GPU" else ""))
    return ray


def execute_all(ray, nb_json: str, params: dict, seeds, num_cpus: float, num_gpus: int, on_result) -> None:
    """Run every seed as a Ray task; ``on_result(seed, result, attempt)`` as each finishes or fails for good."""
    task = ray.remote(run_seed).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=1, retry_exceptions=False)
    env = worker_env()
    pending = {}

    def submit(seed: int, attempt: int) -> None:
        pending[task.remote(nb_json, {**params, SEED: seed}, env)] = (seed, attempt)

    for s in seeds:
        submit(s, 1)
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        seed, attempt = pending.pop(ref)
        retried_by_ray = False
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as err:  # run_seed itself raised (the kernel died, say)
            result = _crashed(err)
        except Exception as err:  # the worker or its node died, on Ray's retry too
            result, retried_by_ray = _crashed(err), True
        if result["failed"] and not retried_by_ray and attempt < ATTEMPTS:
            print(f"seed {seed}: failed ({result['failed']}); trying once more", flush=True)
            submit(seed, attempt + 1)
            continue
        on_result(seed, result, attempt + retried_by_ray)


# ------------------------------------------------------------------------------------------------ summary
def summarize(chapter: str, params: dict, code: str, records: dict[int, dict]) -> dict:
    """records: seed -> its record (``seed-<n>.json``). One entry per claim, in the order the chapter makes them."""
    seeds = list(records)
    rows: dict[str, dict] = {}
    for s in seeds:
        for c in records[s]["claims"]:
            row = rows.setdefault(c["name"], {"name": c["name"], "criterion": c["criterion"], "anchor": c["anchor"],
                                              "source": c["source"], "values": {}})
            row["values"][str(s)] = {"ours": c["ours"], "holds": c["holds"], "miss": c["miss"]}
    for row in rows.values():
        row["recorded"] = len(row["values"])
        row["holds"] = sum(v["holds"] for v in row["values"].values())
    runs = {str(s): {k: records[s][k] for k in ("status", "error", "attempts", "seconds", "node", "notebook",
                                                  "reused")} for s in seeds}
    ok = (all(r["status"] == "ok" for r in runs.values())
          and all(row["holds"] == row["recorded"] for row in rows.values()))
    return {"chapter": chapter, "params": params, "seeds": seeds, "code": code, "ok": ok, "runs": runs,
            "claims": list(rows.values())}


def table_rows(summary: dict) -> list[tuple[str, ...]]:
    """The table: a header, a row saying whether each run's notebook ran to its end, then a row per claim."""
    seeds = [str(s) for s in summary["seeds"]]
    runs = summary["runs"]
    out = [("claim", "criterion", *(f"seed {s}" for s in seeds), "holds on")]
    ran = sum(runs[s]["status"] == "ok" for s in seeds)
    out.append(("the notebook runs to its end", "", *("ok" if runs[s]["status"] == "ok" else "FAILED" for s in seeds),
                f"{ran}/{len(seeds)}"))
    for row in summary["claims"]:
        cells = []
        for s in seeds:
            v = row["values"].get(s)
            cells.append("—" if v is None else f"{claims._fmt(v['ours'])} {'holds' if v['holds'] else 'FAILS'}")
        out.append((row["name"], row["criterion"], *cells, f"{row['holds']}/{row['recorded']}"))
    return out


def text_table(summary: dict) -> str:
    return tables.text(table_rows(summary))


def markdown(summary: dict) -> str:
    rows = table_rows(summary)
    esc = [tuple(x.replace("|", "\\|") for x in r) for r in rows]
    params = ", ".join(f"`{k} = {v!r}`" for k, v in summary["params"].items()) or "the chapter's defaults"
    lines = [f"# Seed sweep of `{summary['chapter']}`", "",
             f"{_seeds(summary['seeds']).capitalize()}; parameters: {params}; claims in keep-going mode. "
             f"'holds on' counts the seeds on which the claim holds, of those that recorded it (— : not recorded).",
             "", "| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    lines += ["", "| seed | run | seconds | notebook |", "|---|---|---|---|"]
    for s, r in summary["runs"].items():
        state = "ok" if r["status"] == "ok" else f"FAILED after {r['attempts']} tries: {r['error']}"
        state += " (finished in an earlier sweep)" if r["reused"] else ""
        notebook = f"`{r['notebook']}`" if r["notebook"] else "—"
        lines.append("| " + " | ".join([s, state.replace("|", "\\|"), str(r["seconds"]), notebook]) + " |")
    return "\n".join(lines) + "\n"


def _seeds(seeds) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


# ----------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m toyinterp.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("chapter", help=f"one of: {', '.join(run.CHAPTERS)}")
    ap.add_argument("--seeds", nargs="+", type=int, required=True, metavar="SEED", help="one run per seed")
    ap.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                    help="a Ray cluster's HOST:PORT (default: $RAY_ADDRESS, else a local Ray instance)")
    ap.add_argument("--num-cpus", type=float, default=1.0, help="CPUs each run asks Ray for (default 1)")
    ap.add_argument("--out", default=str(run.REPO / "runs"), help="where the sweep's directory goes (default runs/)")
    args = ap.parse_args(argv)

    try:  # every check before Ray starts
        page = run.chapter_page(args.chapter)
        nb = run.to_notebook(page)
        known = run.parameters_of(nb)
        params = run.parse_overrides(args.parameter, known)
    except SweepError:
        raise
    except run.RunError as err:
        raise SweepError(err.msg) from None
    if SEED not in known:
        raise SweepError(f"the chapter has no {SEED!r} parameter to sweep")
    if SEED in params:
        raise SweepError(f"give the seeds with --seeds, not with -p {SEED}")
    seeds = check_seeds(args.seeds)
    if not args.num_cpus > 0:
        raise SweepError(f"--num-cpus must be positive, got {args.num_cpus:g}")
    address = check_address(args.address)
    num_gpus = 1 if params.get("device", known.get("device")) == "cuda" else 0

    import nbformat

    code = code_version(page)
    out = sweep_dir(Path(args.out), args.chapter, params, code)
    records: dict[int, dict] = {}
    for s in seeds:  # finished in an earlier sweep: reuse
        rec_file, nb_file = out / f"seed-{s}.json", out / f"seed-{s}.ipynb"
        if rec_file.exists() and nb_file.exists():
            rec = json.loads(rec_file.read_text())
            if rec["status"] == "ok":
                records[s] = rec | {"reused": True}
                print(f"seed {s}: finished in an earlier sweep ({nb_file}), not run again")
    todo = [s for s in seeds if s not in records]

    def on_result(seed: int, result: dict, attempt: int) -> None:
        nb_file = out / f"seed-{seed}.ipynb"
        if result["notebook"]:
            nb_file.write_text(result["notebook"])
        rec = {"seed": seed, "status": "failed" if result["failed"] else "ok", "error": result["failed"],
               "attempts": attempt, "seconds": result["seconds"], "node": result["node"],
               "notebook": nb_file.name if result["notebook"] else None, "params": params, "code": code,
               "claims": result["claims"]}
        (out / f"seed-{seed}.json").write_text(json.dumps(rec, indent=1, default=str))
        records[seed] = rec | {"reused": False}
        n_hold = sum(c["holds"] for c in result["claims"])
        state = f"FAILED ({result['failed']})" if result["failed"] else f"ran to its end in {result['seconds']} s"
        print(f"seed {seed}: {state}; {n_hold}/{len(result['claims'])} claims hold", flush=True)

    if todo:
        ray = start_ray(address, args.num_cpus, num_gpus)
        out.mkdir(parents=True, exist_ok=True)
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address}"
        print(f"running {args.chapter} on {_seeds(todo)} on {where} "
              f"({args.num_cpus:g} CPU{', 1 GPU' if num_gpus else ''} each)", flush=True)
        try:
            execute_all(ray, nbformat.writes(nb), params, todo, args.num_cpus, num_gpus, on_result)
        finally:
            ray.shutdown()

    summary = summarize(args.chapter, params, code, {s: records[s] for s in seeds})
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "summary.md").write_text(markdown(summary))
    print(f"\nclaims of {args.chapter} on {_seeds(seeds)}:\n")
    print(text_table(summary))
    for s, r in summary["runs"].items():
        if r["status"] != "ok":
            print(f"\nseed {s}: the chapter stopped with {r['error']}", file=sys.stderr)
    print(f"\nsummary: {out / 'summary.md'}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    from toyinterp.sweep import main as _main  # so Ray ships run_seed by reference, not from __main__

    sys.exit(_main())
