import pytest

from toyinterp import claims, seeds, tables
from toyinterp.claims import ClaimFailed
from toyinterp.params import ParameterError
from toyinterp.seeds import Run


def setup_function():
    claims.reset()


def test_runs_put_the_default_first_then_the_extra_pairs():
    plan = seeds.runs(0, 4, [[1, 4], [2, 5]])
    assert plan == [Run(0, 4), Run(1, 4), Run(2, 5)]
    assert seeds.coverage(plan) == "3 initialization seeds (0, 1, 2) and 2 data seeds (4, 5)"
    assert seeds.runs(3, 0) == [Run(3, 0)]


@pytest.mark.parametrize("extra, fragment", [
    ([[1, 0], [1, 0]], "given twice"),
    ([[0, 4]], "is the default run"),
    ([[1]], "pair of integers"),
    ([[1, 2.0]], "pair of integers"),
    ([[True, 0]], "pair of integers"),
    ([3], "pair of integers"),
    ("[[1, 0]]", "list of"),
])
def test_bad_extra_runs_are_one_clear_error(extra, fragment):
    with pytest.raises(ParameterError, match=fragment.replace("(", r"\(")):
        seeds.runs(0, 4, extra)


def test_seed_runs_put_each_extra_seed_on_the_default_split():
    assert seeds.seed_runs(999, 598, [1, 2]) == [Run(999, 598), Run(1, 598), Run(2, 598)]
    assert seeds.seed_runs(999, 598) == [Run(999, 598)]


@pytest.mark.parametrize("extra, fragment", [
    ("[1, 2]", "list of integer seeds"), ([1.0], "list of integer seeds"), ([True], "list of integer seeds"),
    (3, "list of integer seeds"), ([1, 1], "given twice"), ([999], "is the default run"),
])
def test_bad_extra_seeds_are_one_clear_error(extra, fragment):
    with pytest.raises(ParameterError, match=fragment):
        seeds.seed_runs(999, 598, extra)


def test_tables_render_html_escaped_and_text_aligned():
    from toyinterp import tables
    t = tables.Table(["", "a<b"], [["row one", "1"], ["r2", "22"]])
    assert '<table class="toyinterp-table"><thead><tr><th></th><th>a&lt;b</th>' in t._repr_html_()
    assert '<td>row one</td><td><span class="toyinterp-nobr">1</span></td>' in t._repr_html_()  # numbers kept whole
    assert str(t).splitlines() == ["        | a<b", "--------+----", "row one | 1", "r2      | 22"]
    with pytest.raises(ValueError, match="a row of 1 cells under a header of 2"):
        tables.Table(["x", "y"], [["only one"]])


def test_settings_show_every_field_of_each_configuration_in_one_row():
    from toyinterp import tables
    from toyinterp.models import TransformerConfig
    from toyinterp.tasks import ModularAddition
    from toyinterp.train import TrainConfig
    task = ModularAddition(p=7, frac_train=0.5, data_seed=3)
    t = tables.settings(task, TransformerConfig.for_task(task, d_mlp=24), TrainConfig(steps=10, lr=3e-3))
    assert t.head == ["configuration", "fields"]
    assert [row[0] for row in t.body] == ["ModularAddition", "TransformerConfig", "TrainConfig"]
    assert "p=7" in t.body[0][1] and "data_seed=3" in t.body[0][1]
    assert "d_mlp=24" in t.body[1][1] and "init='boot_native'" in t.body[1][1]
    assert t.body[2][1].startswith("steps=10, lr=0.003, ")
    assert "TrainConfig(" not in str(t)  # no dataclass repr


VALUES = {Run(0, 0): {"acc": 0.99, "n": 22}, Run(1, 0): {"acc": 0.97, "n": 23}, Run(2, 1): {"acc": 0.98, "n": 20}}


def test_spread_table_has_every_run_the_mean_and_the_range():
    t = seeds.spread_table(VALUES, anchors={"acc": 1.0})
    head, acc, n = t.rows()
    assert head == ("measure", "anchor", "seed 0, data 0", "seed 1, data 0", "seed 2, data 1", "mean", "min–max")
    assert acc == ("acc", "1", "0.99", "0.97", "0.98", "0.98", "0.97 – 0.99")
    assert n[1] == "—" and n[-2:] == ("21.67", "20 – 23")
    assert ('<td><span class="toyinterp-nobr">0.97</span> – <span class="toyinterp-nobr">0.99</span></td>'
            in t._repr_html_() and "seed 2, data 1" in str(t))
    assert seeds.spread_table(VALUES, measures=["n"]).rows()[1][0] == "n"
    head, acc, n = seeds.spread_table(VALUES, reference=("seed 0, data 0, longer", {"acc": 0.995})).rows()
    assert head[2] == "seed 0, data 0, longer" and acc[2] == "0.995" and n[2] == "—" and acc[-1] == "0.97 – 0.99"


def test_spread_table_gives_no_mean_or_range_when_a_run_has_no_value():
    head, step, acc = seeds.spread_table({Run(0, 0): {"step": 700, "acc": 1.0},
                                          Run(1, 0): {"step": None, "acc": 0.5}}).rows()
    assert step == ("step", "—", "700", "None", "—", "—") and acc[-2:] == ("0.75", "0.5 – 1")


@pytest.mark.parametrize("criterion, worst", [
    (dict(at_least=0.9), 0.97), (dict(at_most=1.0), 0.99), (dict(between=(0.96, 0.995)), 0.99),
])
def test_claim_every_claims_the_worst_run(criterion, worst):
    c = seeds.claim_every("acc", VALUES, anchor=1.0, source="src", **criterion)
    assert c.holds and c.ours == worst and c.name == "acc: worst of 3 runs"
    assert "every run: seed 0, data 0: 0.99; seed 1, data 0: 0.97; seed 2, data 1: 0.98" in c.note


def test_claim_every_fails_when_one_run_fails():
    with pytest.raises(ClaimFailed, match="ours = 20"):
        seeds.claim_every("key irreps", VALUES, measure="n", between=(21, 25))
    c = claims.table().claims[-1]
    assert not c.holds and "worst: seed 2, data 1" in c.note
    with pytest.raises(ValueError, match="exactly one"):
        seeds.claim_every("acc", VALUES, at_least=0.9, at_most=1.0)


def test_column_gives_a_measure_on_every_run_in_order():
    assert seeds.column(VALUES, "n") == [22, 23, 20]
    assert seeds.Spread("n", dict(zip(VALUES, seeds.column(VALUES, "n")))).range == 3


def test_prose_takes_text_and_span_writes_a_range():
    with pytest.raises(TypeError, match="format the number"):
        tables.prose(acc=0.5)
    assert tables.span([0.912, 0.84, 0.9]) == "0.84–0.91"
    assert tables.span([3, 3], "{:,}") == "3"
    assert tables.span([1200, 15600], "{:,}") == "1,200–15,600"
    assert tables.span([0.841, 0.9062], "{:.0f}", scale=100, unit=" %") == "84–91 %"
    assert tables.span([-0.018, 0.08]) == "\u22120.02 to 0.08"
    assert tables.signed(0.0771) == "+0.077" and tables.signed(-0.008) == "\u22120.008"
    assert tables.listed(["23", "23", "22"]) == "23, 23 and 22" and tables.listed(["4"]) == "4"
    assert tables.sci(7.06e-7) == "7.1 × 10⁻⁷" and tables.sci(4.5e12, 0) == "4 × 10¹²"
    assert tables.sci(float("nan")) == "nan" and tables.sci(float("inf")) == "inf"
    assert tables.worst_range([0.9978, 0.9983], 0.9978, "{:.4f}") == "worst 0.9978, range 0.0005"
    assert tables.worst_range([-1.0, -1.0], -1.0, "{:.4f}") == "\u22121.0000 on every run"
    assert tables.span([1, 3], "{:+d}") == "+1 to +3" and tables.span([-2, -1], "{:+d}") == "\u22122 to \u22121"
    assert tables.span([2.8e-5, 1.0e-4], tables.sci) == "2.8 × 10⁻⁵ to 1.0 × 10⁻⁴"
