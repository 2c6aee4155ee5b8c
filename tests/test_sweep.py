import json
import re
import subprocess
import sys

import pytest

from toyinterp import run, sweep


@pytest.fixture
def no_ray(monkeypatch):
    """Bad input must be refused before Ray starts."""
    def started(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(sweep, "start_ray", started)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.parametrize("argv, message", [
    (["dihedra", "--seeds", "1"], "toyinterp.sweep: error: unknown chapter 'dihedra'; chapters are: grokking"),
    (["dihedral", "--seeds", "1", "-p", "modulus", "7"],
     "toyinterp.sweep: error: unknown parameter 'modulus'; this chapter's parameters are: device, group,"),
    (["dihedral", "--seeds", "1", "2", "1"], "toyinterp.sweep: error: duplicate seeds: 1$"),
    (["dihedral", "--seeds", "1", "-p", "seed", "3"], "give the seeds with --seeds, not with -p seed"),
    (["dihedral", "--seeds", "1", "--address", "127.0.0.1:1"],
     r"no Ray cluster answers at 127.0.0.1:1 \(.*refused\); start one with `ray start --head`"),
    (["dihedral", "--seeds", "1", "--address", "headnode"], "the Ray address must be HOST:PORT"),
    (["dihedral", "--seeds", "1", "--num-cpus", "0"], "--num-cpus must be positive"),
])
def test_bad_input_is_one_clear_error_before_ray_starts(no_ray, tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        sweep.main([*argv, "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_an_unreachable_address_from_the_environment(no_ray, monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(SystemExit, match="no Ray cluster answers at 127.0.0.1:1"):
        sweep.main(["dihedral", "--seeds", "1", "--out", str(tmp_path)])


@pytest.mark.parametrize("argv, message", [
    (["dihedral", "--seeds"], "argument --seeds: expected at least one argument"),
    (["dihedral"], "the following arguments are required: --seeds"),
])
def test_no_seeds_is_one_clear_error(no_ray, capsys, argv, message):
    with pytest.raises(SystemExit) as err:
        sweep.main(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def _record(seed, status="ok", claims=(), error=None):
    return {"seed": seed, "status": status, "error": error, "attempts": 1 if status == "ok" else 2, "seconds": 1.0,
            "node": "n", "notebook": f"seed-{seed}.ipynb", "reused": False, "claims": list(claims)}


def _claim(name, ours, holds):
    return {"name": name, "ours": ours, "anchor": None, "source": "", "criterion": ">= 1", "holds": holds,
            "miss": "" if holds else "short", "note": ""}


def test_summary_counts_seeds_and_marks_failures():
    records = {1: _record(1, claims=[_claim("a", 1.0, True), _claim("b", 0.5, False)]),
               2: _record(2, claims=[_claim("a", 2.0, True), _claim("b", 3.0, True), _claim("c", 1, True)]),
               3: _record(3, "failed", [_claim("a", 0.0, False)], "ParameterError: no")}
    s = sweep.summarize("dihedral", {"steps": 300}, "code", records)
    assert not s["ok"] and s["seeds"] == [1, 2, 3]
    assert [(c["name"], c["holds"], c["recorded"]) for c in s["claims"]] == [("a", 2, 3), ("b", 1, 2), ("c", 1, 1)]
    rows = sweep.table_rows(s)
    assert rows[0] == ("claim", "criterion", "seed 1", "seed 2", "seed 3", "holds on")
    assert rows[1] == ("the notebook runs to its end", "", "ok", "ok", "FAILED", "2/3")
    assert rows[2][2:] == ("1 holds", "2 holds", "0 FAILS", "2/3")
    assert rows[4][2:] == ("—", "1 holds", "—", "1/1")
    md = sweep.markdown(s)
    assert "| claim | criterion | seed 1 | seed 2 | seed 3 | holds on |" in md
    assert "| 3 | FAILED after 2 tries: ParameterError: no | 1.0 | `seed-3.ipynb` |" in md
    assert sweep.summarize("dihedral", {}, "code", {1: _record(1, claims=[_claim("a", 1, True)])})["ok"]


def _sweep(*args, out):
    return subprocess.run([sys.executable, "-m", "toyinterp.sweep", "dihedral", *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=600)


def _one_run_each() -> list[str]:
    """The chapter trains more runs beside its default one (extra seeds); a sweep test needs only the default."""
    known = run.parameters_of(run.to_notebook(run.chapter_page("dihedral")))
    return [x for name in ("extra_runs", "extra_seeds") if name in known for x in ("-p", name, "[]")]


@pytest.mark.slow
def test_a_local_ray_sweep_of_the_dihedral_chapter(tmp_path):
    # 300 epochs: the model has not grokked, so some claims fail; the sweep must run every claim on every seed,
    # say which fail, and exit 1.
    cheap = ["-p", "steps", "300", *_one_run_each()]
    res = _sweep("--seeds", "1", "2", *cheap, out=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "on a local Ray instance" in res.stdout
    (out,) = tmp_path.glob("sweep-dihedral-*")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["params"]["steps"] == 300 and not summary["ok"]
    assert all(summary["runs"][s]["status"] == "ok" and not summary["runs"][s]["reused"] for s in ("1", "2"))
    rows = summary["claims"]
    assert len(rows) >= 10
    for row in rows:
        assert row["recorded"] == len(row["values"]) and row["holds"] == sum(v["holds"] for v in row["values"].values())
    groks = next(r for r in rows if r["name"] == "the model groks: test accuracy")
    assert groks["recorded"] == 2 and groks["holds"] == 0  # recorded as failing on both seeds, not stopped at
    assert any(r["holds"] > 0 for r in rows)
    md = (out / "summary.md").read_text()
    assert "| claim | criterion | seed 1 | seed 2 | holds on |" in md
    assert sum(line.startswith("| ") for line in md.splitlines()) == 1 + 1 + len(rows) + 1 + 2  # + the runs table
    assert "| the model groks: test accuracy | >= 0.999 |" in md and "FAILS | 0/2 |" in md
    assert "the model groks: test accuracy" in res.stdout and "FAILS" in res.stdout and "holds" in res.stdout
    notebooks = {p.name: p.stat().st_mtime_ns for p in out.glob("seed-*.ipynb")}
    assert set(notebooks) == {"seed-1.ipynb", "seed-2.ipynb"}

    again = _sweep("--seeds", "1", "2", *cheap, out=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert again.stdout.count("finished in an earlier sweep") == 2 and "Ray instance" not in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("seed-*.ipynb")} == notebooks
    summary2 = json.loads((out / "summary.json").read_text())
    assert summary2["claims"] == rows and all(r["reused"] for r in summary2["runs"].values())


@pytest.mark.slow
def test_a_run_whose_notebook_raises_is_retried_once_then_reported(tmp_path):
    res = _sweep("--seeds", "1", "-p", "group", "C7", out=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "seed 1: failed (ParameterError: this chapter studies dihedral groups; got 'C7'); trying once more" \
        in res.stdout
    (out,) = tmp_path.glob("sweep-dihedral-*")
    run = json.loads((out / "summary.json").read_text())["runs"]["1"]
    assert run["status"] == "failed" and run["attempts"] == 2 and run["error"].startswith("ParameterError")
    assert re.search(r"the notebook runs to its end \| +\| FAILED", res.stdout)
    assert "seed 1: the chapter stopped with ParameterError" in res.stderr
