import numpy as np

from toyinterp import plot


def test_colors_give_each_name_one_colour_of_the_cycle_in_order():
    c = plot.colors(["a", "b", "c"])
    assert list(c) == ["a", "b", "c"] and len(set(c.values())) == 3
    fig = plot.line({"a train": [1, 2], "a test": [2, 1]}, color={"a train": c["a"], "a test": c["a"]},
                    dash={"a test": "dot"})
    assert [t.line.color for t in fig.data] == [c["a"], c["a"]] and [t.line.dash for t in fig.data] == [None, "dot"]


def test_imshow_labels_every_named_row_titles_the_colour_bar_and_every_panel():
    fig = plot.imshow(np.zeros((2, 3, 4)), y=["sign", "rho1", "rho2"], xlabel="neuron", ylabel="irrep", zlabel="share",
                      facet_titles=["x", "y"])
    assert fig.layout.yaxis.dtick == 1 and fig.layout.yaxis2.dtick == 1
    assert fig.layout.yaxis2.title.text == "irrep" and fig.layout.xaxis2.title.text == "neuron"
    assert fig.data[-1].colorbar.title.text == "share"
    assert plot.imshow(np.zeros((3, 4)), y=[0, 1, 2]).layout.yaxis.dtick is None  # numbers: plotly's own ticks
