"""RiskUtilityDashboard (notebook 07): one ε slider → utility, membership risk, reconstruction
risk, in one view and in sentences; and an equal-ε explorer.

A thin view over the stages of a profile (:mod:`medpriv_widgets.experiments.profiles`): the
shadow models and DP targets of :mod:`medpriv_widgets.experiments.membership`, the reconstruction
at each target's noise, bounds from :mod:`medpriv_widgets.privacy.bounds` and words from
:mod:`medpriv_widgets.explain`. What is missing is computed in place (Compute button, progress,
Stop) or beforehand by ``medpriv precompute``.
"""

from __future__ import annotations

import math
import time

import ipywidgets as W
import numpy as np
from IPython.display import display

from ..attacks.membership.roc import compare_with_bound, roc_band
from ..cache import ResultStore, default_store
from ..errors import NotComputedYet
from ..experiments import human_seconds, run_stages
from ..experiments.membership import ShadowModels, membership_result
from ..experiments.membership.reconstruction import TargetReconstruction
from ..experiments.profiles import check_epsilon, get_profile, membership_settings, profile_stages
from ..explain import format_epsilon, format_percent, roc_uncertainty_statement
from ..explain.membership import precompute_command
from ..explain.training import data_size_statement
from ._common import (BackgroundJob, MessageArea, progress_text, synthetic_data_notes,
                      synthetic_message)
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png
from .membership import percent_log_axis, visible_band
from .plotting import FigureWidget, band_polygon, clip_log

#: The profile parts this dashboard reads.
PARTS = ("membership", "equal_epsilon", "reconstruction")

# Legend names of the grid figure, set again on every redraw (see _draw_grid).
GRID_NAMES = ("test AUC (utility)", "sensitivity (utility)",
              "members found at 1 % FPR (measured, 95 % range)",
              "members found at 1 % FPR (DP bound)", "selected")
EQUAL_BAND_COLOURS = ("rgba(26, 115, 232, 0.18)", "rgba(147, 52, 230, 0.18)")
#: Lesson 03's models (64 px, the official train and val splits less 5 % held back): the
#: comparison the utility sentence makes. About 5,000 X-rays with the real files.
LESSON_03 = {"other_n_train": 5000, "other_size": 64, "other_lesson": "lesson 03"}


def _card(title: str, body: str) -> str:
    return (f"<div style='border:1px solid #ddd;border-radius:4px;padding:6px 10px;margin:4px;"
            f"min-width:200px'><b>{title}</b><br>{body}</div>")


class RiskUtilityDashboard:
    """One ε slider for the three questions a data-protection officer asks.

    Parameters
    ----------
    profile : 'fast', 'binder' or 'workshop' — which experiment (see
        :mod:`medpriv_widgets.experiments.profiles`).
    epsilon : initial ε, one of the profile's grid (inf = not private); another value is an error.
    kappa : the attacker's prior chance of reconstructing an X-ray without the model, in (0, 1).
    seed : the experiment's seed.
    cache : where results are kept (default: :func:`medpriv_widgets.cache.default_store`).
    """

    def __init__(self, *, profile: str = "fast", epsilon: float = math.inf, kappa: float = 0.01,
                 seed: int = 0, cache: ResultStore | None = None) -> None:
        from .._validate import check_open_unit

        self.profile = get_profile(profile)
        epsilon = check_epsilon(self.profile, epsilon)
        self.seed = seed
        self.kappa = check_open_unit("kappa", kappa)
        self.settings = membership_settings(profile, seed=seed)
        self.cache = cache if cache is not None else default_store()
        self.shadows = ShadowModels(self.settings)
        with synthetic_data_notes() as notes:  # said in the dashboard's own message instead
            population = self.shadows.population
        self.stages = profile_stages(profile, parts=PARTS, seed=seed)
        self.reconstructions = {s.epsilon: s for s in self.stages
                                if isinstance(s, TargetReconstruction)}
        self.epsilons = self.profile.epsilons
        self.job = BackgroundJob()
        self._computing = False  # True from Compute until its job has ended

        self.slider = W.SelectionSlider(options=[(format_epsilon(e), e) for e in self.epsilons],
                                        value=epsilon,
                                        description="Privacy ε:", continuous_update=False,
                                        layout=W.Layout(width="520px"),
                                        style={"description_width": "initial"})
        self.compute_button = W.Button(description="Compute missing results", icon="play",
                                       button_style="primary", disabled=True,
                                       layout=W.Layout(width="220px"))
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="200px"))
        self.message = MessageArea()
        self.data_warning = MessageArea()
        if population.data.synthetic:
            self.data_warning.show(synthetic_message(notes), kind="warning")
        self.data_size = data_size_statement(n_train=len(population.members),
                                             size=self.settings.size, **LESSON_03)
        self.cards = W.HTML()
        self.sentences = W.HTML()
        self.original = W.Image(format="png", layout=W.Layout(width="112px", height="112px"))
        self.rebuilt = W.Image(format="png", layout=W.Layout(width="112px", height="112px"))
        for img in (self.original, self.rebuilt):
            img.add_class(PIXELATED_CLASS)
        self.recon_caption = W.HTML()
        self.figure = FigureWidget()
        self.equal_figure = FigureWidget()
        self.equal_table = W.HTML()
        self._init_figures()

        self.slider.observe(lambda _: self.show(), names="value")
        self.compute_button.on_click(lambda _: self.compute(wait=False))
        self.stop_button.on_click(lambda _: self.job.stop())

        eq = self.profile.equal_epsilon
        self.widget = W.VBox([
            W.HTML(PIXELATED_CSS), self.data_warning,
            W.HBox([self.slider]),
            W.HBox([self.compute_button, self.stop_button, self.progress],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            self.message,
            self.cards,
            W.HBox([self.figure,
                    W.VBox([W.HTML("<b>Reconstruction attack</b>"),
                            W.HBox([W.VBox([self.original, W.HTML("<small>patient's X-ray</small>")]),
                                    W.VBox([self.rebuilt,
                                            W.HTML("<small>attacker's reconstruction</small>")])]),
                            self.recon_caption], layout=W.Layout(width="280px"))]),
            self.sentences,
            W.HTML(f"<h4>Equal ε, different risk: two DP-SGD settings, both at ε = {eq:g}</h4>"),
            W.HBox([self.equal_figure, self.equal_table]),
        ])
        # Stable hooks for the browser tests (tests/browser) and for workshop CSS.
        self.widget.add_class("medpriv-tradeoff")
        for w, name in ((self.slider, "eps"), (self.compute_button, "compute"),
                        (self.stop_button, "stop"), (self.cards, "cards"),
                        (self.sentences, "sentences"), (self.figure, "figure"),
                        (self.recon_caption, "recon"), (self.equal_figure, "equal-figure"),
                        (self.progress, "progress"),
                        (self.equal_table, "equal-table")):
            w.add_class(f"medpriv-tradeoff-{name}")
        self.message.add_class("medpriv-message")
        self.show()

    # ------------------------------------------------------------------ drawing
    def _init_figures(self) -> None:
        f = self.figure
        f.add_scatter(x=[], y=[], name=GRID_NAMES[0], mode="lines+markers",
                      line=dict(color="#188038"))
        f.add_scatter(x=[], y=[], name=GRID_NAMES[1], mode="lines+markers",
                      line=dict(color="#188038", dash="dot"))
        # Error bars: the 95 % Clopper–Pearson range of the measured rate (few patients tested).
        f.add_scatter(x=[], y=[], name=GRID_NAMES[2], mode="lines+markers",
                      line=dict(color="#1a73e8"),
                      error_y=dict(type="data", symmetric=False, array=[], arrayminus=[],
                                   color="#1a73e8", thickness=1.5, width=4))
        f.add_scatter(x=[], y=[], name=GRID_NAMES[3], mode="lines+markers",
                      line=dict(color="#d93025", dash="dash"))
        f.add_scatter(x=[], y=[], name=GRID_NAMES[4], mode="markers",
                      marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color="black")),
                      showlegend=False)
        f.update_layout(height=360, width=560, margin=dict(l=50, r=10, t=40, b=40),
                        xaxis=dict(title="ε (right: not private)", type="category"),
                        yaxis=dict(title="rate", range=[0, 1.05]), legend=dict(y=-0.35, orientation="h"),
                        title="Utility and risk across the ε grid")
        g = self.equal_figure
        # Every trace is named when it is created: a name first set inside a later
        # batch_update did not always reach the browser (the legend showed "trace 1").
        for colour, (label, _, _) in zip(("#1a73e8", "#9334e6"), self.profile.equal_settings):
            g.add_scatter(x=[], y=[], mode="lines", line=dict(color=colour, width=2),
                          name=f"{label}: measured")
            g.add_scatter(x=[], y=[], mode="lines", line=dict(color=colour, dash="dash"),
                          name=f"{label}: bound")
        # The 95 % range of each measured curve (traces 4, 5), kept out of the legend: the title
        # says what the shading is, and the legend stays one entry per curve.
        for j, fill in enumerate(EQUAL_BAND_COLOURS):
            g.add_scatter(x=[], y=[], mode="lines", fill="toself", fillcolor=fill,
                          line=dict(width=0), showlegend=False, hoverinfo="skip",
                          legendgroup=f"setting{j}")
            g.data[2 * j].legendgroup = f"setting{j}"  # hiding a curve hides its range too
        g.update_layout(height=380, width=520, margin=dict(l=60, r=10, t=50, b=40),
                        xaxis=percent_log_axis("false-positive rate", low=1e-3),
                        yaxis=percent_log_axis("true-positive rate", low=1e-3),
                        legend=dict(y=-0.35, orientation="h"),
                        title="LiRA ROC (solid; shaded: 95 % range)<br>and DP bound (dashed)")

    def _results(self):
        """{ε: MembershipResult} for the cached part of the grid."""
        out = {}
        for eps in self.epsilons:
            try:
                out[eps] = membership_result(self.settings, epsilon=eps, cache=self.cache)
            except NotComputedYet:
                continue
        return out

    def show(self) -> None:
        """Answer the slider from the cache; say what is missing, with a button to compute it."""
        try:
            results = self._results()
        except Exception as exc:  # noqa: BLE001 - shown in place
            self.message.show_error(exc)
            return
        eps = self.slider.value
        todo = [s for s in self.stages if not s.is_done(self.cache)]
        if todo:
            self.compute_button.disabled = self._computing
            seconds = sum(s.seconds_left(self.cache) for s in todo)
            self.message.show(
                f"Not computed yet: {len(todo)} of {len(self.stages)} pieces ("
                + ", ".join(s.title for s in todo[:4]) + (", …" if len(todo) > 4 else "")
                + f"). Press 'Compute missing results' (about {human_seconds(seconds)} on this "
                f"machine; progress and a Stop button appear here), or have an instructor run "
                f"`{precompute_command(self.profile.name)}` before the session.", kind="warning")
        else:
            self.compute_button.disabled = True
            self.message.clear()
        self._draw_grid(results)
        if eps in results:
            self._draw_selected(results[eps])
        else:
            self.cards.value = _card(format_epsilon(eps), "not computed yet")
            self.sentences.value = ""
        self._draw_equal()

    def _draw_grid(self, results) -> None:
        labels = [format_epsilon(e).replace(" (ε = ∞)", "") for e in results]
        rs = list(results.values())
        with self.figure.batch_update():
            d = self.figure.data
            d[0].x, d[0].y = labels, [r.utility["auc"] for r in rs]
            d[1].x, d[1].y = labels, [r.utility["sensitivity"] for r in rs]
            ops = [r.tpr_at["lira_online"][0.01] for r in rs]
            d[2].x, d[2].y = labels, [op.tpr for op in ops]
            d[2].error_y.array = [op.tpr_high - op.tpr for op in ops]
            d[2].error_y.arrayminus = [op.tpr - op.tpr_low for op in ops]
            d[3].x, d[3].y = labels, [r.bound_at(0.01) for r in rs]
            sel = self.slider.value
            if sel in results:
                lab = format_epsilon(sel).replace(" (ε = ∞)", "")
                d[4].x, d[4].y = [lab], [results[sel].utility["auc"]]
            # Names set on every trace of the batch (plotly 7 sends unset ones as null).
            for trace, name in zip(d, GRID_NAMES):
                trace.name = name
            synthetic = " — SYNTHETIC data" if rs and rs[0].synthetic else ""
            device = rs[0].device if rs else ""
            self.figure.layout.title = f"Utility and risk across the ε grid · {device}{synthetic}"

    def _reconstruction(self, res):
        """(psnr, ssim, verdict, original, reconstruction) at this ε's σ, or None if not cached."""
        sweep = self.reconstructions[res.epsilon].load(self.cache)
        if sweep is None:
            return None
        # the attacked update must carry the noise of this very training run
        sigma = res.noise_multiplier if res.private else 0.0
        if not math.isclose(sweep.sigmas[0], sigma, rel_tol=1e-6, abs_tol=1e-12):
            return None
        i = 0
        pop = self.shadows.population
        return (sweep.psnr[i], sweep.ssim[i], sweep.verdicts[i],
                pop.data.images[int(pop.members[0])], sweep.images[i][0])

    def _draw_selected(self, res) -> None:
        from ..explain import (epsilon_statement, membership_statement, reconstruction_statement)
        from ..privacy.bounds import rero_bound, tradeoff_curve

        op1, op01 = res.tpr_at["lira_online"][0.01], res.tpr_at["lira_online"][0.001]
        if res.private:
            rero = rero_bound(kappa=self.kappa, tradeoff=lambda a: tradeoff_curve(
                noise_multiplier=res.noise_multiplier, sample_rate=res.sample_rate,
                steps=res.steps, fpr=a))
        else:
            rero = 1.0
        recon = self._reconstruction(res)
        if recon is not None:
            psnr, ssim, verdict, original, rebuilt = recon
            self.original.value = to_png(original)
            self.rebuilt.value = to_png(rebuilt)
            self.recon_caption.value = (f"<small>PSNR {psnr:.1f} dB, SSIM {ssim:.2f}: "
                                        f"{verdict}</small>")
            recon_text = f"PSNR {psnr:.1f} dB ({verdict})"
        else:
            self.recon_caption.value = ("<small>The reconstruction sweep is not computed yet "
                                        "(press 'Compute missing results').</small>")
            recon_text = "not computed yet"
        u = res.utility
        self.cards.value = "<div style='display:flex;flex-wrap:wrap'>" + "".join([
            _card("Utility (test set)", f"AUC {u['auc']:.2f}<br>sensitivity {u['sensitivity']:.0%}"
                  f"<br>specificity {u['specificity']:.0%}"),
            _card("Membership risk (LiRA)", f"found at 1 % FPR: {format_percent(op1.tpr)} "
                  f"(bound {format_percent(res.bound_at(0.01)) if res.private else 'none'})<br>at 0.1 % FPR: "
                  f"{format_percent(op01.tpr)} (bound {format_percent(res.bound_at(0.001)) if res.private else 'none'})"),
            _card("Reconstruction risk", f"{recon_text}<br>success bound for prior "
                  f"κ = {self.kappa:g}: {format_percent(rero)}"),
        ]) + "</div>"
        words = [epsilon_statement(res.epsilon, delta=res.delta if res.private else None)]
        if res.private:
            words.append(membership_statement(tpr_bound=res.bound_at(0.001), fpr=0.001))
            words.append(reconstruction_statement(kappa=self.kappa, bound=float(rero)))
        words.append(f"Measured on this model: the attack picked out {op1.true_positives} of "
                     f"{op1.n_members} training patients while wrongly accusing "
                     f"{op1.false_positives} of {op1.n_nonmembers} others; the model's test AUC "
                     f"is {u['auc']:.2f}.")
        if res.private:
            words.append(self.data_size.text)
        self.sentences.value = "".join(f"<p>{w}</p>" for w in words)

    def _draw_equal(self) -> None:
        eq = self.profile.equal_epsilon
        rows, notes, traces = [], [], self.equal_figure.data
        with self.equal_figure.batch_update():
            for j, (label, bs, ep) in enumerate(self.profile.equal_settings):
                line, bound, shade = traces[2 * j], traces[2 * j + 1], traces[4 + j]
                shade.name = f"{label}: measured, 95 % range"
                try:
                    r = membership_result(self.settings, epsilon=eq, dp_batch_size=bs,
                                          dp_epochs=ep, cache=self.cache)
                except NotComputedYet:
                    line.x = line.y = bound.x = bound.y = shade.x = shade.y = []
                    # Names set on every trace of the batch (plotly 7 sends unset ones as null).
                    line.name, bound.name = f"{label}: not computed yet", f"{label}: bound"
                    rows.append(f"<tr><td>{label}</td><td colspan=6>not computed yet</td></tr>")
                    continue
                c = r.curves["lira_online"]
                band = roc_band(curve=c, n_members=r.n_members, n_nonmembers=r.n_nonmembers)
                line.x, line.y = clip_log(c.fpr, 1e-3), clip_log(c.tpr, 1e-3)
                line.name = f"{label}: measured"
                shade.x, shade.y = band_polygon(band, 1e-3)
                bound.x, bound.y = r.bound_fpr, clip_log(r.bound_tpr, 1e-3)
                bound.name = f"{label}: bound"
                check = compare_with_bound(band=visible_band(band, low=1e-3),
                                           bound_fpr=r.bound_fpr, bound_tpr=r.bound_tpr)
                note = str(roc_uncertainty_statement(
                    above=check.above, within_band=check.within_band,
                    within_fpr_range=check.within_fpr_range, worst_fpr=check.worst_fpr,
                    n_members=r.n_members, n_nonmembers=r.n_nonmembers))
                if note:
                    notes.append(f"{label}: {note}")
                op = r.tpr_at["lira_online"][0.01]
                rows.append(f"<tr><td>{label}</td><td>{r.sample_rate:.3f}</td><td>{r.steps}</td>"
                            f"<td>{r.noise_multiplier:.2f}</td><td>{format_percent(op.tpr)}</td>"
                            f"<td>{format_percent(r.bound_at(0.01))}</td><td>{r.utility['auc']:.2f}</td></tr>")
        self.equal_table.value = (
            "<table><tr><th>setting</th><th>sampling rate q</th><th>steps T</th><th>noise σ</th>"
            "<th>found at 1 % FPR</th><th>bound at 1 % FPR</th><th>test AUC</th></tr>"
            + "".join(rows) + "</table><p style='max-width:420px'>Same ε, so the same formal "
            "guarantee; but the noise, the number of steps and how often each patient is used "
            "differ, and so do the bound curves and what an attacker measures.</p>"
            + "".join(f"<p style='max-width:420px'>{n}</p>" for n in notes))

    # ------------------------------------------------------------------ computing
    def compute(self, *, wait: bool = True) -> None:
        """Compute every missing piece of this dashboard (progress bar, Stop), then redraw."""
        if self.job.running:
            return
        self._computing = True
        self.compute_button.disabled = True
        self.compute_button.description = "Computing…"
        self.stop_button.disabled = False
        est = sum(s.seconds_left(self.cache) for s in self.stages)
        self.message.show(f"Computing: about {human_seconds(est)} on this machine…", kind="info")
        t0 = time.monotonic()

        def on_item(p):
            self.progress.value = p.fraction
            self.message.show(progress_text(p, elapsed=time.monotonic() - t0),
                              kind="warning" if p.stopped else "info")

        def on_done(stopped):
            self._computing = False
            self.stop_button.disabled = True
            self.compute_button.description = "Compute missing results"
            self.progress.value = 0 if stopped else 1
            self.show()
            if stopped:
                self.message.show("Stopped; what finished is cached, the rest is not.", kind="warning")

        self.job.start(lambda stop: run_stages(self.stages, cache=self.cache, stop=stop),
                       on_item=on_item, on_done=on_done, on_error=self.message.show_error,
                       wait=wait)

    def run(self, *, epsilon: float | None = None, wait: bool = True) -> "RiskUtilityDashboard":
        """Compute whatever is missing (synchronously by default), then show ``epsilon``."""
        if not self.compute_button.disabled:
            self.compute(wait=wait)
        if epsilon is not None:
            self.slider.value = check_epsilon(self.profile, epsilon)
        return self

    def _ipython_display_(self) -> None:
        display(self.widget)


__all__ = ["RiskUtilityDashboard"]
