"""The labs' FigureWidget keeps the state a browser view opens with (``_widget_data``,
``_widget_layout``) equal to the figure, whatever was changed before the view opened.

plotly's own FigureWidget refreshes that state only when the figure itself is displayed; ours
sit inside VBoxes, and the one-off change messages are dropped while the browser's JavaScript
loads — lesson 07's main figure was drawn empty and Voila drew no traces (browser tests:
lesson 07, tests/browser/test_voila_dashboards.py)."""

from __future__ import annotations

import numpy as np

from medpriv_widgets.widgets.plotting import FigureWidget


def _names(fig) -> list[str]:
    return [t.get("name") for t in fig._widget_data]


def test_traces_layout_and_later_changes_reach_the_state_a_view_opens_with():
    fig = FigureWidget()
    fig.add_scatter(x=[], y=[], name="measured")
    fig.add_scatter(x=[], y=[], name="bound")
    fig.update_layout(title="ROC", height=300)
    assert _names(fig) == ["measured", "bound"]
    assert fig._widget_layout["title"]["text"] == "ROC"

    with fig.batch_update():
        fig.data[0].x, fig.data[0].y = np.array([0.0, 1.0]), np.array([0.0, 1.0])
        fig.data[1].name = "DP bound"
        fig.layout.yaxis.range = [0, 1]
    assert _names(fig) == ["measured", "DP bound"]
    assert list(fig._widget_data[0]["x"]) == [0.0, 1.0]
    assert fig._widget_layout["yaxis"]["range"] == [0, 1]

    fig.data = [fig.data[1]]  # deleting a trace
    assert _names(fig) == ["DP bound"]


def test_plotlys_own_figure_widget_loses_them():
    # What the class exists for: if plotly ever refreshes its state itself, this fails, and
    # ours can go.
    import plotly.graph_objects as go

    fig = go.FigureWidget()
    fig.add_scatter(x=[], y=[], name="measured")
    assert fig._widget_data == []
