"""Drawing helpers the lab widgets share (no mathematics: only how values reach a plot)."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import plotly.graph_objects as go


def clip_log(values, floor: float = 1e-5) -> np.ndarray:
    """Log axes cannot show 0: draw zeros (and anything below ``floor``) at the axis floor."""
    return np.maximum(np.asarray(values, dtype=float), floor)


def band_polygon(band, floor: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """x, y of a closed outline of a RocBand (upper edge left to right, lower edge back) for a
    plotly ``fill='toself'`` trace on log axes (zeros drawn at ``floor``)."""
    x = np.r_[band.fpr, band.fpr[::-1]]
    y = np.r_[band.tpr_high, band.tpr_low[::-1]]
    return clip_log(x, floor), clip_log(y, floor)



class FigureWidget(go.FigureWidget):
    """A plotly FigureWidget that a view opened at any time draws in full.

    Why: plotly 7 sends each change as a one-off message (``_py2js_addTraces`` set, then reset
    to None) and refreshes the figure's whole state (``_widget_data``, ``_widget_layout``) only
    when the figure itself is displayed. Our figures sit inside a VBox, so that never happens;
    and the browser's model applies the one-off messages only once its JavaScript has loaded,
    which is asynchronous. Changes made before then — every trace a lab adds in its
    constructor — were lost: lesson 07's main figure was drawn empty, bound curves kept
    "trace 1" as their legend name, and under Voila no trace was drawn at all. Here every change
    also refreshes the whole state, which views read when they open (open views draw only the
    one-off messages: the browser model's handler for a new whole state does nothing).

    The whole state must follow the one-off message, not precede it: the browser's model also
    applies each one-off to its own copy of the data, and a batched restyle carries null for
    the traces a batch did not touch, which deletes those properties from the copy (tried:
    lesson 07's bound curves were named "trace 1" again in views opened afterwards).
    """

    def _refresh_state(self) -> None:
        self._widget_layout = deepcopy(self._layout_obj._props)
        self._widget_data = deepcopy(self._data)

    def _send_relayout_msg(self, *args, **kwargs):
        super()._send_relayout_msg(*args, **kwargs)
        self._refresh_state()

    def _send_restyle_msg(self, *args, **kwargs):
        super()._send_restyle_msg(*args, **kwargs)
        self._refresh_state()

    def _send_addTraces_msg(self, *args, **kwargs):
        super()._send_addTraces_msg(*args, **kwargs)
        self._refresh_state()

    def _send_moveTraces_msg(self, *args, **kwargs):
        super()._send_moveTraces_msg(*args, **kwargs)
        self._refresh_state()

    def _send_update_msg(self, *args, **kwargs):
        super()._send_update_msg(*args, **kwargs)
        self._refresh_state()

    def _send_animate_msg(self, *args, **kwargs):
        super()._send_animate_msg(*args, **kwargs)
        self._refresh_state()

    def _send_deleteTraces_msg(self, *args, **kwargs):
        super()._send_deleteTraces_msg(*args, **kwargs)
        self._refresh_state()


__all__ = ["FigureWidget", "band_polygon", "clip_log"]
