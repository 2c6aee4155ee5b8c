import pytest

from toyinterp import claims
from toyinterp.claims import ClaimFailed, claim


def setup_function():
    claims.reset()


def test_a_claim_that_holds_is_recorded():
    c = claim("accuracy", 0.998, anchor=0.99825, source="anchor", at_least=0.995)
    assert c.holds and c.verdict == "holds"
    assert "holds" in str(claims.table()) and "0.998" in claims.table()._repr_html_()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(at_least=0.99), "short by 0.09"),
    (dict(at_most=0.5), "over by 0.4"),
    (dict(between=(0.95, 1.0)), "outside by 0.05"),
    (dict(within=0.05), "off by 10.0% of the anchor"),
    (dict(equals=1.0), "is 0.9"),
])
def test_a_failing_claim_raises_naming_what_failed_and_by_how_much(kwargs, fragment):
    with pytest.raises(ClaimFailed, match="claim 'acc' FAILS: ours = 0.9") as err:
        claim("acc", 0.9, anchor=1.0, source="src", **kwargs)
    assert fragment in str(err.value)
    table = claims.table()
    assert not table.all_hold and "FAILS" in str(table)


def test_nan_never_holds():
    with pytest.raises(ClaimFailed, match="NaN"):
        claim("loss", float("nan"), at_most=1.0)


def test_exactly_one_criterion():
    with pytest.raises(ValueError, match="exactly one criterion"):
        claim("x", 1.0)
    with pytest.raises(ValueError, match="exactly one criterion"):
        claim("x", 1.0, at_least=0, at_most=2)


def test_claims_file_for_the_run_command(tmp_path, monkeypatch):
    path = tmp_path / "claims.json"
    monkeypatch.setenv(claims.CLAIMS_FILE_ENV, str(path))
    claims.reset()
    claim("a", 1, equals=1)
    with pytest.raises(ClaimFailed):
        claim("b", 2, at_most=1)
    rows = claims.load(path)
    assert [(r.name, r.holds) for r in rows] == [("a", True), ("b", False)]


def test_keep_going_mode_records_a_failing_claim_without_raising(monkeypatch):
    monkeypatch.setenv(claims.RAISE_ENV, "0")
    c = claim("acc", 0.9, anchor=1.0, source="src", at_least=0.99)
    assert not c.holds and not claims.table().all_hold


def test_the_record_is_strict_json_with_an_infinite_value(monkeypatch):
    """A claim may hold with an infinite value (a lead over a control that never groks); the chapter's record
    travels in a notebook output's metadata, which Jupyter sends as strict JSON (no Infinity)."""
    import json
    import math

    claims.reset()
    claim("lead over a control that never groks", math.inf, at_least=0)
    claim("a count", 3, anchor=(1, 2), equals=3)
    rec = claims.record()
    json.dumps(rec, allow_nan=False)  # raises on inf/nan
    assert rec["claims"][0]["ours"] == "inf" and rec["claims"][0]["holds"] is True
    assert rec["claims"][1]["ours"] == 3 and rec["claims"][1]["anchor"] == [1, 2]
    claims.reset()


def test_in_a_notebook_every_cell_shows_the_claims_it_made_in_one_table():
    """Each cell that makes claims shows all of them under it (a failing one too); a claim shown again later
    (a variable's value) is shown alone."""
    import nbformat
    from nbclient import NotebookClient

    cells = ["from toyinterp import claims\nfrom toyinterp.claims import claim\nclaims.reset()\nclaim('a', 1, at_least=0)",
             "claim('b', 1, at_least=0)\nc = claim('c', 2, at_least=0)\nprint('no claim is the last line')",
             "c",
             "claim('d', 0, at_least=1)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()

    def shown(cell):  # the claim names of each table the cell shows
        return [[line.split(" | ")[0].strip() for line in o["data"]["text/plain"].splitlines()[2:]]
                for o in cell.outputs if o.get("output_type") == "display_data"]

    assert [shown(c) for c in nb.cells] == [[["a"]], [["b", "c"]], [["c"]], [["d"]]]
    assert any("FAILS" in o["data"]["text/plain"] for o in nb.cells[3].outputs if o.get("output_type") == "display_data")
    assert any(o.get("ename") == "ClaimFailed" for o in nb.cells[3].outputs)
