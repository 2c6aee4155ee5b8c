import re
import shlex
import subprocess
import sys

import pytest

from toyinterp import run


def test_unknown_chapter_is_one_clear_error():
    with pytest.raises(SystemExit, match="unknown chapter 'grokk'; chapters are: grokking"):
        run.main(["grokk"])


def test_unknown_parameter_is_one_clear_error():
    with pytest.raises(SystemExit, match="unknown parameter 'modulus'; this chapter's parameters are: device, p,"):
        run.main(["grokking", "-p", "modulus", "7"])


def test_list_parameters(capsys):
    assert run.main(["grokking", "--list"]) == 0
    out = capsys.readouterr().out
    assert "p = 113" in out and "device = 'cpu'" in out and "seed = 999" in out


def _run(*args, tmp_path):
    return subprocess.run([sys.executable, "-m", "toyinterp.run", *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)


def test_a_bad_parameter_value_stops_before_any_work(tmp_path):
    res = _run("grokking", "-p", "p", "100", tmp_path=tmp_path)
    assert res.returncode == 1
    assert "ParameterError: p must be a prime number, got 100" in res.stderr
    assert "train Transformer" not in res.stderr + res.stdout


def test_an_unknown_quantization_mode_stops_the_bitnet_chapter_before_any_work(tmp_path):
    res = _run("bitnet", "-p", "probe", "quaternary", tmp_path=tmp_path)
    assert res.returncode == 1
    assert "ParameterError: probe must be one of ('binary', 'ternary') or None, got 'quaternary'" in res.stderr
    assert "train Transformer" not in res.stderr + res.stdout


def test_failing_claims_print_the_table_and_exit_nonzero(tmp_path):
    # 200 steps on p=23 memorizes but cannot grok: the chapter must say so and fail.
    res = _run("grokking", "-p", "p", "23", "-p", "steps", "200", "-p", "d_mlp", "64", tmp_path=tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "claim 'groks: final test accuracy (chance 1/p)' FAILS" in res.stderr
    assert "memorizes first" in res.stdout and "holds" in res.stdout and "FAILS" in res.stdout
    assert list(tmp_path.glob("01_grokking-*.ipynb"))


# ---- every `python -m toyinterp.run ...` the book and the README document parses, names real parameters, and
# gives each a value of its default's kind (the GPU profiles are documented but cannot be run without a GPU) ----

ROOT = run.REPO
DOCUMENTED = re.compile(r"python -m toyinterp\.run((?:[^`\n\\]|\\\n)*)")


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for path in sorted((ROOT / "book").glob("*.md")) + [ROOT / "README.md"]:
        for m in DOCUMENTED.finditer(path.read_text()):
            found.append((f"{path.name}: {' '.join(m.group(0).split())[:80]}",
                          shlex.split(m.group(1).replace("\\\n", " "), comments=True)))
    return found


COMMANDS = documented_commands()


def test_the_documented_commands_are_found():
    assert len(COMMANDS) >= 12, COMMANDS  # every chapter's GPU profile and seed runs, the README's examples
    assert {argv[0] for _, argv in COMMANDS if argv and not argv[0].startswith("-")} >= set(run.CHAPTERS)


@pytest.mark.parametrize("where, argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_names_real_parameters_of_the_right_kind(where, argv):
    if any(re.fullmatch(r"[A-Z]", a) for a in argv):
        pytest.skip("a template (a placeholder such as N for the seed), not a command")
    args = run.parser().parse_args(argv)
    known = run.parameters_of(run.to_notebook(run.chapter_page(args.chapter)))
    run.parse_overrides(args.parameter, known)


def test_an_override_of_the_wrong_kind_is_one_clear_error():
    with pytest.raises(SystemExit, match=r"'lr' takes a number .* got the text '1e-3' \(YAML reads"):
        run.main(["grokking", "-p", "lr", "1e-3"])
    with pytest.raises(SystemExit, match=r"'extra_seeds' takes a list"):
        run.main(["grokking", "-p", "extra_seeds", "1"])
    known = {"lr": 0.001, "steps": 3000, "probe": None, "device": "cpu"}
    assert run.parse_overrides([("lr", "1.0e-3"), ("steps", "10000"), ("probe", "ternary"), ("device", "cuda")],
                               known) == {"lr": 0.001, "steps": 10000, "probe": "ternary", "device": "cuda"}
