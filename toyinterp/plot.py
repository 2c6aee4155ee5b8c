"""The plotting helpers (imshow, line, scatter, bar), written once for the whole book.

Each helper takes tensors or arrays and returns a plotly ``Figure``, so a plot in
a chapter is one call. Importing this module makes ``"toyinterp"`` the default
plotly renderer. It emits the figure as ``text/html`` (myst-nb renders only that): in the book build
*without* plotly.js, which the book serves from its own ``_static/``, so pages work offline with no CDN;
elsewhere with plotly.js inlined once per session.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
from plotly.io._base_renderers import MimetypeRenderer


BOOK_ENV = "TOYINTERP_BOOK"  # set by `make book`: the page loads plotly.js from _static/


class _OfflineHTMLRenderer(MimetypeRenderer):
    """``text/html`` only (myst-nb renders nothing else). In the book build the page already loads plotly.js;
    anywhere else (Jupyter, papermill, nbval) the first figure of a session carries plotly.js inline, so
    figures draw offline there too."""

    def __init__(self):
        self.plotlyjs_sent = False

    def to_mimebundle(self, fig_dict):
        inline = not os.environ.get(BOOK_ENV) and not self.plotlyjs_sent
        self.plotlyjs_sent = self.plotlyjs_sent or inline
        html = pio.to_html(fig_dict, include_plotlyjs=inline, full_html=False, validate=False,
                           config={"displaylogo": False})
        return {"text/html": html}


pio.renderers["toyinterp"] = _OfflineHTMLRenderer()
pio.renderers.default = "toyinterp"
pio.templates.default = "plotly_white"


def to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def _layout(fig: go.Figure, title, xlabel, ylabel, height=None, width=None) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel, height=height, width=width,
                      margin=dict(l=60, r=20, t=50 if title else 20, b=50))
    return fig


def imshow(z, x=None, y=None, title: str = "", xlabel: str = "", ylabel: str = "", zmid: float | None = 0.0,
           colorscale: str = "RdBu", height: int | None = 450, width: int | None = None,
           facet_titles: Sequence[str] | None = None, zlabel: str = "") -> go.Figure:
    """A heatmap of a 2-D array (``zmid=0``: diverging colours centred on zero; ``None``: sequential).

    A 3-D array [k, rows, cols] becomes k panels side by side, titled ``facet_titles``, each with the axis labels.
    ``zlabel`` titles the colour bar; rows named by strings in ``y`` are all labelled.
    """
    z = to_numpy(z)
    if z.ndim == 2:
        z = z[None]
    k = z.shape[0]
    if zmid is not None:
        colorscale = colorscale if colorscale != "RdBu" else "RdBu_r"
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=k, subplot_titles=list(facet_titles) if facet_titles else None,
                        horizontal_spacing=0.04)
    lim = float(np.abs(z).max()) if zmid is not None else None
    named_rows = y is not None and np.asarray(y).dtype.kind in "UO"  # every row's name shown, not every other
    for i in range(k):
        fig.add_trace(go.Heatmap(z=z[i], x=None if x is None else to_numpy(x), y=None if y is None else to_numpy(y),
                                 colorscale=colorscale, zmid=zmid, zmin=-lim if lim else None, zmax=lim,
                                 coloraxis=None, showscale=(i == k - 1),
                                 colorbar=dict(title=dict(text=zlabel)) if zlabel else None), row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", dtick=1 if named_rows else None, row=1, col=i + 1)
        if i:  # _layout titles the first panel's axes
            fig.update_xaxes(title_text=xlabel, row=1, col=i + 1)
            fig.update_yaxes(title_text=ylabel, row=1, col=i + 1)
    return _layout(fig, title, xlabel, ylabel, height, width)


def colors(names) -> dict:
    """One colour of plotly's default cycle per name, in order: for lines that belong together (one model's
    train and test loss) to share a colour and differ by ``dash``."""
    cycle = px.colors.qualitative.Plotly
    return {n: cycle[i % len(cycle)] for i, n in enumerate(names)}


def line(ys, x=None, title: str = "", xlabel: str = "", ylabel: str = "", log_x: bool = False,
         log_y: bool = False, vlines: Mapping[str, float] | None = None, height: int | None = 400,
         dash: Mapping[str, str] | None = None, color: Mapping[str, str] | None = None) -> go.Figure:
    """Lines: ``ys`` is one array or a mapping name -> array (sharing ``x``, or name -> (x, y) pairs). ``dash`` and
    ``color`` map a line's name to its dash pattern and colour (by default solid, plotly's colour cycle)."""
    series = ys if isinstance(ys, Mapping) else {"": ys}
    fig = go.Figure()
    for name, y in series.items():
        if isinstance(y, tuple):
            xs, y = y
        else:
            xs = x
        y = to_numpy(y)
        xs = np.arange(len(y)) if xs is None else to_numpy(xs)
        fig.add_trace(go.Scatter(x=xs, y=y, mode="lines", name=name or None, showlegend=bool(name),
                                 line=dict(dash=(dash or {}).get(name), color=(color or {}).get(name))))
    for label, at in (vlines or {}).items():
        fig.add_vline(x=at, line_dash="dot", line_color="grey", annotation_text=label,
                      annotation_position="top")
    fig.update_xaxes(type="log" if log_x else None)
    fig.update_yaxes(type="log" if log_y else None)
    return _layout(fig, title, xlabel, ylabel, height)


def scatter(x, y, color=None, text=None, title: str = "", xlabel: str = "", ylabel: str = "",
            log_x: bool = False, log_y: bool = False, height: int | None = 400, diagonal: bool = False) -> go.Figure:
    """A scatter plot; ``color`` colours points by value, ``text`` is shown on hover."""
    x, y = to_numpy(x), to_numpy(y)
    marker = dict(size=6)
    if color is not None:
        marker.update(color=to_numpy(color), colorscale="Viridis", showscale=True)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="markers", marker=marker,
                               text=None if text is None else [str(t) for t in text]))
    if diagonal:
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        fig.add_shape(type="line", x0=lo, y0=lo, x1=hi, y1=hi, line=dict(dash="dot", color="grey"))
    fig.update_xaxes(type="log" if log_x else None)
    fig.update_yaxes(type="log" if log_y else None)
    return _layout(fig, title, xlabel, ylabel, height)


def bar(y, x=None, title: str = "", xlabel: str = "", ylabel: str = "", color=None, log_y: bool = False,
        height: int | None = 400) -> go.Figure:
    """Bars: ``y`` one array, or a mapping name -> array for grouped bars over ``x``."""
    series = y if isinstance(y, Mapping) else {"": y}
    fig = go.Figure()
    for name, ys in series.items():
        ys = to_numpy(ys)
        xs = np.arange(len(ys)) if x is None else to_numpy(x)
        fig.add_trace(go.Bar(x=xs, y=ys, name=name or None, showlegend=bool(name),
                             marker_color=None if color is None else to_numpy(color)))
    fig.update_yaxes(type="log" if log_y else None)
    return _layout(fig, title, xlabel, ylabel, height)
