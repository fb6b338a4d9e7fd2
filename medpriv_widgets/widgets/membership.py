"""MembershipLab (notebook 05): pick ε, see the LiRA ROC with the DP bound over it, and the X-rays
of the patients the attack exposes most.

A thin view: every number comes from the membership experiment
(:mod:`medpriv_widgets.experiments.membership`, its stages computed in place by the Compute button
or beforehand by ``medpriv precompute``), the bounds from :mod:`medpriv_widgets.privacy.bounds`,
the sentences from :mod:`medpriv_widgets.explain`.
"""

from __future__ import annotations

import dataclasses
import math
import time

import ipywidgets as W
import numpy as np
from IPython.display import display

from ..attacks.membership.roc import compare_with_bound, roc_band
from ..cache import ResultStore, default_store
from ..errors import NotComputedYet
from ..experiments import human_seconds, run_stages
from ..experiments.membership import DPTarget, ShadowModels, membership_result
from ..experiments.profiles import check_epsilon, get_profile, membership_settings
from ..explain import format_epsilon, format_percent, roc_uncertainty_statement
from ..explain.membership import precompute_command, split_statement
from ._common import (BackgroundJob, MessageArea, progress_text, synthetic_data_notes,
                      synthetic_message)
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png
from .plotting import FigureWidget, band_polygon, clip_log

ATTACK_LABELS = {"lira_online": "LiRA (online)", "lira_offline": "LiRA (offline)",
                 "loss": "Loss threshold"}

REGION_NAME = "(ε, δ) guarantee: any mechanism"
BOUND_NAME = "DP bound of this training run"
BAND_NAME = "measured curve, 95 % range"
BAND_COLOUR = "rgba(26, 115, 232, 0.18)"
GUESS_NAME = "guessing (TPR = FPR)"

#: The smallest false-positive rate the ROC axes show (0.01 %).
VISIBLE_FPR = 1e-4


def percent_log_axis(title: str, *, low: float = VISIBLE_FPR) -> dict:
    """A log axis from ``low`` to 1 labelled in percent ('0.01%' … '100%'), not plotly's SI
    suffixes ('100μ' means nothing to a clinician)."""
    ticks = [10.0 ** k for k in range(round(math.log10(low)), 1)]
    text = [f"{100 * t:.{max(0, -k - 2)}f}%" for k, t in zip(range(round(math.log10(low)), 1),
                                                         ticks)]
    return dict(type="log", title=title, range=[math.log10(low), 0], tickvals=ticks,
                ticktext=text)


def visible_band(band, *, low: float = VISIBLE_FPR):
    """The part of a RocBand the figure shows (FPR ≥ ``low``): a sentence about the curve and
    the bound must speak of what the reader can see (a point at FPR 0 is drawn off the axis)."""
    keep = np.asarray(band.fpr) >= low
    return dataclasses.replace(
        band, fpr=np.asarray(band.fpr)[keep], tpr=np.asarray(band.tpr)[keep],
        tpr_low=np.asarray(band.tpr_low)[keep], tpr_high=np.asarray(band.tpr_high)[keep],
        fpr_high=None if band.fpr_high is None else np.asarray(band.fpr_high)[keep])


def split_note(population) -> str:
    """How the population was split into members and non-members, in words."""
    ids = np.asarray(population.patient_ids)
    members = set(ids[population.members])
    others = set(ids[population.non_members])
    return split_statement(by_patient=population.data.patient_ids is not None,
                           n_images=len(ids), n_member_patients=len(members),
                           n_nonmember_patients=len(others),
                           n_shared=len(members & others)).text


class MembershipLab:
    """Membership inference against the cached targets of a precompute profile.

    Parameters
    ----------
    profile : 'fast', 'binder' or 'workshop' — which experiment (see
        :mod:`medpriv_widgets.experiments.profiles`).
    epsilon : initial ε, one of the profile's grid (inf = not private); another value is an error.
    attack : 'lira_online', 'lira_offline' or 'loss'.
    n_vulnerable : how many exposed patients to show.
    seed : the experiment's seed.
    cache : where results are kept (default: :func:`medpriv_widgets.cache.default_store`).
    """

    def __init__(self, *, profile: str = "fast", epsilon: float = math.inf,
                 attack: str = "lira_online", n_vulnerable: int = 6, seed: int = 0,
                 cache: ResultStore | None = None) -> None:
        self.profile = get_profile(profile)
        epsilon = check_epsilon(self.profile, epsilon)
        self.settings = membership_settings(profile, seed=seed)
        self.cache = cache if cache is not None else default_store()
        self.shadows = ShadowModels(self.settings)
        with synthetic_data_notes() as notes:  # said in the lab's own message instead
            population = self.shadows.population
        self._synthetic_notes = notes if population.data.synthetic else []
        self.epsilons = self.profile.epsilons
        self.n_vulnerable = n_vulnerable
        self.job = BackgroundJob()
        self._computing = False  # True from Compute until its job has ended
        self.result = None

        self.eps_picker = W.ToggleButtons(
            options=[(format_epsilon(e), e) for e in self.epsilons], value=epsilon,
            description="Model:", style={"button_width": "auto"})
        self.attack_picker = W.Dropdown(options=[(v, k) for k, v in ATTACK_LABELS.items()],
                                        value=attack, description="Attack:")
        self.compute_button = W.Button(description="Compute", icon="play", button_style="primary",
                                       disabled=True)
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="240px"))
        self.message = MessageArea()
        self.summary = W.HTML()
        self.figure_note = W.HTML()
        self.split = W.HTML(f"<p style='color:#333'>{split_note(population)}</p>")
        self.data_warning = MessageArea()
        if self._synthetic_notes:
            self.data_warning.show(synthetic_message(self._synthetic_notes), kind="warning")
        self.figure = FigureWidget()
        self._init_figure()
        self.gallery = W.HBox(layout=W.Layout(flex_flow="row wrap"))

        self.eps_picker.observe(lambda _: self.show(), names="value")
        self.attack_picker.observe(lambda _: self.show(), names="value")
        self.compute_button.on_click(lambda _: self.compute(wait=False))
        self.stop_button.on_click(lambda _: self.job.stop())

        self.widget = W.VBox([
            W.HTML(PIXELATED_CSS), self.data_warning,
            W.HBox([self.eps_picker]),
            W.HBox([self.attack_picker, self.compute_button, self.stop_button, self.progress],
                   layout=W.Layout(flex_flow="row wrap", align_items="center")),
            self.message, self.figure, self.figure_note, self.split, self.summary,
            W.HTML("<b>The patients this attack is most sure about</b> (members of the training "
                   "data, highest score first):"),
            self.gallery,
        ])
        # Stable hooks for the browser tests (tests/browser) and for workshop CSS.
        self.widget.add_class("medpriv-membership")
        for w, name in ((self.eps_picker, "eps"), (self.attack_picker, "attack"),
                        (self.compute_button, "compute"), (self.stop_button, "stop"),
                        (self.figure, "roc"), (self.figure_note, "note"),
                        (self.summary, "summary"), (self.split, "split"),
                        (self.progress, "progress"),
                        (self.gallery, "gallery")):
            w.add_class(f"medpriv-membership-{name}")
        self.message.add_class("medpriv-message")
        self.show()

    # ------------------------------------------------------------------ drawing
    def _init_figure(self) -> None:
        grid = np.logspace(-5, 0, 100)
        f = self.figure
        f.add_scatter(x=grid, y=grid, name=GUESS_NAME, mode="lines",
                      line=dict(color="grey", dash="dot"))
        f.add_scatter(x=[], y=[], name=REGION_NAME, mode="lines",
                      line=dict(color="#f29900", dash="dash"))
        f.add_scatter(x=[], y=[], name=BOUND_NAME, mode="lines",
                      line=dict(color="#d93025", width=3), fill=None)
        f.add_scatter(x=[], y=[], name="attack (measured)", mode="lines",
                      line=dict(color="#1a73e8", width=2))
        # Added last to keep the trace indices above; translucent, so the curve shows through.
        f.add_scatter(x=[], y=[], name=BAND_NAME, mode="lines", fill="toself",
                      fillcolor=BAND_COLOUR, line=dict(width=0), hoverinfo="skip")
        f.update_layout(
            xaxis=percent_log_axis("false-positive rate (innocent patients accused)"),
            yaxis=percent_log_axis("true-positive rate (members found)"),
            height=450, margin=dict(l=60, r=20, t=70, b=50), legend=dict(x=0.45, y=0.05),
            title="Membership attack ROC (log–log)")

    def show(self) -> None:
        """Draw the chosen ε and attack from the cache; say so when it must be computed first."""
        eps, attack = self.eps_picker.value, self.attack_picker.value
        try:
            res = membership_result(self.settings, epsilon=eps, cache=self.cache,
                                    n_vulnerable=self.n_vulnerable)
        except NotComputedYet:
            self.result = None
            self.compute_button.disabled = self._computing
            self.message.show(self._missing_text(eps), kind="warning")
            return
        except Exception as exc:  # noqa: BLE001 - shown in place, the widget keeps working
            self.message.show_error(exc)
            return
        self.result = res
        self.compute_button.disabled = True
        self.message.clear()
        curve = res.curves[attack]
        band = roc_band(curve=curve, n_members=res.n_members, n_nonmembers=res.n_nonmembers)
        with self.figure.batch_update():
            region, bound, roc, shade = (self.figure.data[1], self.figure.data[2],
                                         self.figure.data[3], self.figure.data[4])
            region.x, region.y = res.bound_fpr, clip_log(res.region_tpr)
            bound.x, bound.y = res.bound_fpr, clip_log(res.bound_tpr)
            # Every property set on one trace of a batch is set on all of them: plotly 7's
            # FigureWidget sends the unset ones as null, and the browser then shows the other
            # traces as 'trace 1', 'trace 2' in the legend (or hides them).
            region.visible = bound.visible = res.private
            roc.visible = shade.visible = self.figure.data[0].visible = True
            self.figure.data[0].name = GUESS_NAME
            region.name, bound.name, shade.name = REGION_NAME, BOUND_NAME, BAND_NAME
            roc.x, roc.y = clip_log(curve.fpr), clip_log(curve.tpr)
            roc.name = f"{ATTACK_LABELS[attack]} (AUC {res.auc[attack]:.2f})"
            shade.x, shade.y = band_polygon(band)
            synthetic = " — SYNTHETIC data" if res.synthetic else ""
            # Two lines: the device (with its thread count: the numbers depend on it) on its own.
            self.figure.layout.title = (f"{ATTACK_LABELS[attack]} against the {format_epsilon(eps)} "
                                        f"model{synthetic}<br><sup>{res.n_shadows} shadow models · "
                                        f"computed on {res.device}</sup>")
        note = ""
        if res.private:
            # Judged on the part of the curve the figure shows: a sentence about a crossing
            # nobody can see (a point at FPR 0, drawn off the axis) would contradict the figure.
            check = compare_with_bound(band=visible_band(band), bound_fpr=res.bound_fpr,
                                       bound_tpr=res.bound_tpr)
            note = str(roc_uncertainty_statement(
                above=check.above, within_band=check.within_band,
                within_fpr_range=check.within_fpr_range, worst_fpr=check.worst_fpr,
                n_members=res.n_members, n_nonmembers=res.n_nonmembers))
        self.figure_note.value = f"<p>{note}</p>" if note else ""
        self.summary.value = self._summary_html(res, attack)
        self._draw_gallery(res)

    def _summary_html(self, res, attack: str) -> str:
        from ..explain import epsilon_statement, membership_statement

        rows = []
        for fpr, op in res.tpr_at[attack].items():
            bound = res.bound_at(fpr)
            rows.append(f"<tr><td>{format_percent(fpr)}</td><td>{format_percent(op.tpr)} "
                        f"({op.true_positives} of {op.n_members}; 95 % CI {format_percent(op.tpr_low)}–"
                        f"{format_percent(op.tpr_high)})</td><td>{format_percent(bound) if res.private else '—'}</td></tr>")
        table = ("<table style='border-collapse:collapse'><tr><th>accusing at most</th>"
                 "<th>members found (measured)</th><th>most any attack can find</th></tr>"
                 + "".join(rows) + "</table>")
        words = [str(epsilon_statement(res.epsilon, delta=res.delta if res.private else None))]
        if res.private:
            words.append(str(membership_statement(tpr_bound=res.bound_at(0.001), fpr=0.001)))
        few = min(op.n_nonmembers for op in res.tpr_at[attack].values())
        if few < 1000:
            words.append(f"Only {few} non-members were tested, so a false-positive rate of 0.1 % "
                         f"means no false accusation at all; the intervals show the uncertainty.")
        return table + "".join(f"<p>{w}</p>" for w in words) + (
            f"<p style='color:#555'>Data: {res.caption}. Utility of this model on the test set: "
            f"AUC {res.utility['auc']:.2f}, sensitivity {res.utility['sensitivity']:.0%}.</p>")

    def _draw_gallery(self, res) -> None:
        data = self.shadows.population.data
        tiles = []
        for rank, v in enumerate(res.vulnerable, start=1):
            img = W.Image(value=to_png(data.images[v["index"]]), format="png",
                          layout=W.Layout(width="96px", height="96px"))
            img.add_class(PIXELATED_CLASS)
            label = "pneumonia" if v["label"] == 1 else "normal"
            tiles.append(W.VBox([img, W.HTML(f"<small>#{rank} · {label}<br>score "
                                             f"{v['score']:.1f}</small>")],
                                layout=W.Layout(margin="0 6px 6px 0")))
        self.gallery.children = tiles

    # ------------------------------------------------------------------ computing
    def _stages(self, *epsilons: float) -> list:
        """What the results at ``epsilons`` need: the shadow models, and each private ε's DP
        target."""
        return [self.shadows] + [DPTarget(self.settings, e) for e in epsilons if math.isfinite(e)]

    def _missing_text(self, eps: float) -> str:
        seconds = sum(s.seconds_left(self.cache) for s in self._stages(eps))
        what = ("the shadow models and the target" if math.isinf(eps) else
                f"the shadow models and the model at {format_epsilon(eps)}"
                if not self.shadows.is_done(self.cache) else f"the model at {format_epsilon(eps)}")
        return (f"Not computed yet: {what}. Press 'Compute' (about {human_seconds(seconds)} on "
                f"this machine; progress and a Stop button appear here), or have an instructor "
                f"run `{precompute_command(self.profile.name)}` before the session.")

    def compute(self, *, all_epsilons: bool = False, wait: bool = True) -> None:
        """Train what the chosen ε needs (shadow models, DP target), or with ``all_epsilons``
        every model the ε buttons offer; progress bar, Stop, then the figure."""
        if self.job.running:
            return
        stages = self._stages(*(self.epsilons if all_epsilons else (self.eps_picker.value,)))
        self._computing = True
        self.compute_button.disabled = True
        self.compute_button.description = "Computing…"
        self.stop_button.disabled = False
        est = sum(s.seconds_left(self.cache) for s in stages)
        self.message.show(f"Computing: about {human_seconds(est)} on this machine…", kind="info")

        t0 = time.monotonic()

        def on_item(p):
            self.progress.value = p.fraction
            self.message.show(progress_text(p, elapsed=time.monotonic() - t0),
                              kind="warning" if p.stopped else "info")

        def on_done(stopped):
            self._computing = False
            self.stop_button.disabled = True
            self.compute_button.description = "Compute"
            if not stopped:
                self.show()
            else:
                self.compute_button.disabled = False

        self.job.start(lambda stop: run_stages(stages, cache=self.cache, stop=stop),
                       on_item=on_item, on_done=on_done, on_error=self.message.show_error, wait=wait)

    def run(self, *, epsilon: float | None = None, wait: bool = True) -> "MembershipLab":
        """Compute every model the ε buttons offer that is missing (synchronously by default),
        select ``epsilon`` and draw: what a notebook cell calls so that every button answers."""
        if epsilon is not None:
            self.eps_picker.value = check_epsilon(self.profile, epsilon)
        if any(not s.is_done(self.cache) for s in self._stages(*self.epsilons)):
            self.compute(all_epsilons=True, wait=wait)
        return self

    def numbers(self) -> str:
        """Plain-text lines for a notebook cell: the attack against the non-private model and
        against the most private one, at 1 % false accusations, beside the DP ceiling; or what to
        press when they are not computed yet."""
        lines = [split_note(self.shadows.population)]
        for eps in (math.inf, min(self.epsilons)):
            try:
                res = membership_result(self.settings, epsilon=eps, cache=self.cache)
            except NotComputedYet:
                lines.append(self._missing_text(eps))
                continue
            op = res.tpr_at["lira_online"][0.01]
            bound = format_percent(res.bound_at(0.01), rounding="up") if res.private else "none"
            lines.append(f"{res.label:>12}: finds {format_percent(op.tpr)} of members at 1% "
                         f"false accusations (95% CI {format_percent(op.tpr_low)}–"
                         f"{format_percent(op.tpr_high)}); DP ceiling: {bound}; "
                         f"AUC {res.auc['lira_online']:.2f}")
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        display(self.widget)
