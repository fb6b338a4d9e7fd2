"""ArenaLab (notebook 08): the leaderboard of defences × attacks, its heat-map and Pareto plot,
a sentence per row, and submissions from the notebook.

A thin view: the board's cells are stages of :mod:`medpriv_widgets.arena` (computed in place by
Compute, with progress and Stop, or beforehand by ``medpriv bench arena``), rows live in the
SQLite leaderboard (:class:`~medpriv_widgets.arena.leaderboard.Leaderboard`), the heat-map and
the Pareto front come from :mod:`medpriv_widgets.arena.views`, the words from
:mod:`medpriv_widgets.explain.arena`.
"""

from __future__ import annotations

import html
import math
import time

import ipywidgets as W
from IPython.display import display

from ..arena.attacks import get_attack
from ..arena.board import Board
from ..arena.leaderboard import Leaderboard, default_leaderboard_path
from ..arena.views import heatmap, pareto_points
from ..cache import ResultStore, default_store
from ..errors import NotComputedYet
from ..experiments import human_seconds
from ..explain import format_percent, ranking_statement, row_statement
from ._common import BackgroundJob, MessageArea, progress_text, synthetic_data_notes
from .plotting import FigureWidget

WORST = "worst case over all attacks"


def _pct(x: float) -> str:
    return "—" if not math.isfinite(x) else format_percent(min(max(x, 0.0), 1.0))


def _num(x: float, fmt: str = "{:.2f}") -> str:
    if isinstance(x, float) and math.isinf(x):
        return "∞"
    return "—" if not isinstance(x, (int, float)) or not math.isfinite(x) else fmt.format(x)


class ArenaLab:
    """The arena's board for one scenario.

    Parameters
    ----------
    scenario : a registered scenario ('pneumonia-28', 'pneumonia-64', 'pneumonia-28-small').
    defences, attacks : registry names (None: the board's defaults).
    cache : where results are kept (default :func:`medpriv_widgets.cache.default_store`).
    leaderboard : the SQLite leaderboard (default: ``arena/leaderboard.sqlite`` in the cache).
    """

    def __init__(self, *, scenario: str = "pneumonia-28", defences=None, attacks=None,
                 cache: ResultStore | None = None, leaderboard: Leaderboard | None = None) -> None:
        self.board = Board(scenario=scenario, defences=defences, attacks=attacks)
        self.cache = cache if cache is not None else default_store()
        self.leaderboard = (leaderboard if leaderboard is not None
                            else Leaderboard(default_leaderboard_path()))
        self.job = BackgroundJob()
        self.rows: list = []

        self.compute_button = W.Button(description="Compute", icon="play",
                                       button_style="primary", disabled=True)
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="240px"))
        self.message = MessageArea()
        options = [(WORST, "")] + [(get_attack(a).title, a) for a in self.board.attacks]
        self.attack_picker = W.Dropdown(options=options, value="", description="Risk from:",
                                        style={"description_width": "initial"},
                                        layout=W.Layout(width="420px"))
        self.heat = FigureWidget()
        self.pareto = FigureWidget()
        self._init_figures()
        self.ranking = W.HTML()
        self.table = W.HTML()

        self.compute_button.on_click(lambda _: self.compute(wait=False))
        self.stop_button.on_click(lambda _: self.job.stop())
        self.attack_picker.observe(lambda _: self._draw_pareto(), names="value")

        self.widget = W.VBox([
            W.HTML(f"<b>Board:</b> {html.escape(self.board.scenario.title)} · "
                   f"{len(self.board.defences)} defences × {len(self.board.attacks)} attacks"),
            W.HBox([self.compute_button, self.stop_button, self.progress]),
            self.message, self.heat, self.attack_picker, self.pareto, self.ranking,
            W.HTML("<b>Leaderboard</b> (risk = share of the attacked patients the attack "
                   "exposes; one sentence per row below the numbers)"),
            self.table,
        ])
        self.widget.add_class("medpriv-arena")
        for w, name in ((self.compute_button, "compute"), (self.stop_button, "stop"),
                        (self.progress, "progress"), (self.heat, "heatmap"),
                        (self.attack_picker, "attack"), (self.pareto, "pareto"),
                        (self.ranking, "ranking"), (self.table, "table")):
            w.add_class(f"medpriv-arena-{name}")
        self.message.add_class("medpriv-message")
        self.show()

    # ------------------------------------------------------------------ figures
    def _init_figures(self) -> None:
        self.heat.add_heatmap(z=[[0.0]], x=[""], y=[""], zmin=0, zmax=1, colorscale="Reds",
                              colorbar=dict(title="risk"), name="risk",
                              hovertemplate="%{y} vs %{x}: %{text}<extra></extra>",
                              texttemplate="%{text}", text=[[""]])
        self.heat.update_layout(height=380, margin=dict(l=170, r=20, t=50, b=90),
                                title="Defences × attacks: share of attacked patients exposed",
                                xaxis=dict(tickangle=-25), yaxis=dict(autorange="reversed"))
        self.pareto.add_scatter(x=[], y=[], mode="markers+text", name="defences",
                                textposition="top center", marker=dict(size=10, color="#5f6368"))
        self.pareto.add_scatter(x=[], y=[], mode="lines+markers", name="Pareto front",
                                line=dict(color="#188038", width=2),
                                marker=dict(size=12, color="#188038"))
        self.pareto.update_layout(
            height=400, margin=dict(l=60, r=20, t=50, b=50),
            xaxis=dict(title="risk: share of attacked patients exposed", range=[-0.02, 1.02]),
            yaxis=dict(title="utility: test AUC"), title="Utility vs risk",
            legend=dict(x=0.7, y=0.05))

    def _draw_heatmap(self) -> None:
        # the board's order first, then submissions as they appear
        defences = list(dict.fromkeys([*self.board.defences, *(r.defence for r in self.rows)]))
        attacks = list(dict.fromkeys([*self.board.attacks, *(r.attack for r in self.rows)]))
        present = {r.defence for r in self.rows}, {r.attack for r in self.rows}
        hm = heatmap(self.rows, defences=[d for d in defences if d in present[0]],
                     attacks=[a for a in attacks if a in present[1]])
        text = [[("failed" if s == "failed" else "—" if s == "missing" else _pct(v))
                 for v, s in zip(row, st)] for row, st in zip(hm.values, hm.status)]
        synthetic = " — SYNTHETIC data" if any(r.synthetic for r in self.rows) else ""
        with self.heat.batch_update():
            h = self.heat.data[0]
            h.z = [[float(v) if math.isfinite(v) else None for v in row] for row in hm.values]
            h.x, h.y, h.text = list(hm.attacks), list(hm.defences), text
            h.name = "risk"
            self.heat.layout.title = ("Defences × attacks: share of attacked patients exposed"
                                      f" ({self.board.scenario.name}){synthetic}")
            self.heat.layout.height = max(300, 90 + 32 * len(hm.defences))

    def _draw_pareto(self) -> None:
        attack = self.attack_picker.value or None
        points = pareto_points(self.rows, attack=attack)
        pts = [p for p in points if math.isfinite(p.risk) and math.isfinite(p.utility)]
        front = sorted((p for p in pts if p.on_front), key=lambda p: p.risk)
        what = WORST if attack is None else get_attack(attack).title
        with self.pareto.batch_update():
            dots, line = self.pareto.data
            dots.x, dots.y = [p.risk for p in pts], [p.utility for p in pts]
            dots.text = [p.defence for p in pts]
            line.x, line.y = [p.risk for p in front], [p.utility for p in front]
            dots.name, line.name = "defences", "Pareto front"
            self.pareto.layout.title = f"Utility vs risk ({what})"
        self._rank(pts, front)

    def _rank(self, points, front) -> None:
        base = next((p for p in points if p.defence == "none"), None)
        if not front or base is None:
            self.ranking.value = ""
            return
        best = min(front, key=lambda p: (p.risk, -p.utility))
        words = ranking_statement(best_defence=best.defence, best_utility=best.utility,
                                  best_risk=best.risk, baseline_utility=base.utility,
                                  baseline_risk=base.risk)
        self.ranking.value = f"<p>{html.escape(str(words))}</p>"

    def _draw_table(self) -> None:
        head = ("<tr><th>defence</th><th>attack</th><th>test AUC</th><th>risk</th>"
                "<th>TPR @ 1 % FPR (95 %)</th><th>TPR @ 0.1 % FPR</th><th>PSNR</th>"
                "<th>ε claimed</th><th>ε audited ≥</th><th>cost</th><th>status</th></tr>")
        body, words = [], []
        for r in sorted(self.rows, key=lambda r: (r.defence, r.attack)):
            tpr1 = ("—" if r.kind != "membership" or not r.ok else
                    f"{_pct(r.tpr_at_1pct)} ({_pct(r.tpr_at_1pct_low)}–{_pct(r.tpr_at_1pct_high)})")
            tpr01 = ("—" if r.kind != "membership" or not r.ok else
                     _pct(r.tpr_at_0_1pct) if r.resolved_0_1pct else "unresolved")
            status = "ok" if r.ok else "<span style='color:#d93025'>failed</span>"
            body.append(
                f"<tr><td>{html.escape(r.defence)}</td><td>{html.escape(r.attack)}</td>"
                f"<td>{_num(r.utility_auc)}</td><td>{_pct(r.risk)}</td><td>{tpr1}</td>"
                f"<td>{tpr01}</td><td>{_num(r.psnr_db, '{:.1f} dB')}</td>"
                f"<td>{_num(r.epsilon_claimed, '{:g}')}</td><td>{_num(r.epsilon_audited)}</td>"
                f"<td>{human_seconds(r.seconds) if r.ok else '—'}</td><td>{status}</td></tr>")
            words.append(f"<li>{html.escape(str(row_statement(r)))}</li>")
        self.table.value = (
            "<table style='border-collapse:collapse;font-size:0.9em'>" + head + "".join(body)
            + "</table><details open><summary>In words</summary><ul style='font-size:0.9em'>"
            + "".join(words) + "</ul></details>")

    # ------------------------------------------------------------------ data
    def show(self) -> None:
        """Record the computed board in the leaderboard and draw every row of this scenario."""
        try:
            with synthetic_data_notes():
                try:
                    results = self.board.results(cache=self.cache)
                except NotComputedYet as exc:
                    results = None
                    self.compute_button.disabled = self.job.running
                    seconds = self.board.seconds_left(cache=self.cache)
                    self.message.show(f"{exc} (about {human_seconds(seconds)} on 2 CPU cores)",
                                      kind="warning")
                if results is not None:
                    self.leaderboard.record(results)
                    self.compute_button.disabled = True
                    self.message.clear()
            self.rows = self.leaderboard.results(scenario=self.board.scenario.name)
        except Exception as exc:  # noqa: BLE001 - shown in place, the widget keeps working
            self.message.show_error(exc)
            return
        if self.rows:
            self._draw_heatmap()
            self._draw_pareto()
            self._draw_table()

    def compute(self, *, wait: bool = True) -> None:
        """Compute every cell of the board that is not cached (progress bar, Stop)."""
        self.compute_button.disabled = True
        self.stop_button.disabled = False
        t0 = time.perf_counter()

        def on_item(p):
            self.progress.value = p.fraction
            self.message.show(progress_text(p, elapsed=time.perf_counter() - t0),
                              kind="warning" if p.stopped else "info")

        def on_done(stopped):
            self.stop_button.disabled = True
            if stopped:
                self.compute_button.disabled = False
            else:
                self.show()

        def records(stop):
            with synthetic_data_notes():
                yield from self.board.run(cache=self.cache, stop=stop)

        self.job.start(records, on_item=on_item, on_done=on_done,
                       on_error=self.message.show_error, wait=wait)

    def run(self, *, wait: bool = True) -> "ArenaLab":
        """Compute what is missing (synchronously by default) and draw: what a notebook cell
        calls so that the board is there when the lesson reads it."""
        if not self.board.is_done(cache=self.cache):
            self.compute(wait=wait)
        return self

    # ------------------------------------------------------------------ submissions
    def submit_defence(self, defence, *, name: str, time_limit_s: float = 300.0,
                       submitter: str = "you"):
        """Submit a defence (see :func:`medpriv_widgets.arena.submissions.submit_defence`),
        record its rows and redraw; returns the rows (failed ones say why)."""
        from ..arena.submissions import submit_defence

        rows = submit_defence(defence, name=name, board=self.board, cache=self.cache,
                              leaderboard=self.leaderboard, submitter=submitter,
                              time_limit_s=time_limit_s)
        self._after_submission(rows, rows[0].defence)
        return rows

    def submit_attack(self, attack, *, name: str, defence: str = "none",
                      time_limit_s: float = 300.0, submitter: str = "you"):
        """Submit an attack against one of the board's defences; returns its row."""
        from ..arena.submissions import submit_attack

        row = submit_attack(attack, name=name, board=self.board, defence=defence,
                            cache=self.cache, leaderboard=self.leaderboard,
                            submitter=submitter, time_limit_s=time_limit_s)
        self._after_submission([row], row.attack)
        return row

    def _after_submission(self, rows, label: str) -> None:
        self.show()
        failed = [r for r in rows if not r.ok]
        if failed:
            self.message.show(str(row_statement(failed[0])), kind="error")
        else:
            self.message.show(f"“{label}” is on the board.", kind="success")

    def _ipython_display_(self) -> None:
        display(self.widget)


__all__ = ["ArenaLab"]
