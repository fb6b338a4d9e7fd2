"""Lesson 02 widgets: differential privacy you can see.

- :class:`CountingQueryLab`: "how many of these children have pneumonia?" answered with Laplace
  noise; one child in or out (D or D′); the two answer distributions and the e^ε band.
- :class:`RandomizedResponseLab`: a class survey with randomized response; estimate vs truth.
- :class:`BudgetLab`: every query spends from a :class:`~medpriv_widgets.privacy.ledger.PrivacyLedger`
  until the dataset locks.

No mathematics here: numbers come from :mod:`medpriv_widgets.privacy.mechanisms` and the ledger;
this module draws them. Bad input (from the controls or from code) is shown in the lab's
MessageArea and the lab keeps working. Each lab has synchronous methods (``ask``, ``run``,
``set_epsilon``) that notebooks under test call so outputs appear without clicks.
"""

from __future__ import annotations

import html
import tempfile
import warnings
from pathlib import Path

import ipywidgets as W
import numpy as np

from ..errors import MedprivError, PrivacyBudgetError
from ..explain.dp_basics import counting_statement, spread_text, survey_statement
from ..explain.numbers import format_count, format_number
from ..privacy import mechanisms as M
from ..privacy.ledger import PrivacyLedger
from ._common import MessageArea
from .plotting import FigureWidget

__all__ = ["CountingQueryLab", "RandomizedResponseLab", "BudgetLab", "cohort_labels",
           "fresh_ledger"]

ATTRIBUTION = ("Chest X-rays: Kermany et al. 2018 (CC BY 4.0) via MedMNIST (Yang et al. 2023). "
               "Not for clinical use.")
PNEUMONIA = 1


def cohort_labels(*, size: int = 28, split: str = "train") -> tuple[np.ndarray, str, bool]:
    """Labels of the lesson cohort (1 = pneumonia), a caption, and whether it is synthetic."""
    from ..data import load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the caption says "synthetic" instead
        data = load_dataset(size=size, split=split)
    labels = np.asarray(data.labels)
    caption = ("SYNTHETIC cohort (no data file found)" if data.synthetic
               else f"PneumoniaMNIST {split} split, {labels.size} children")
    return labels, caption, bool(data.synthetic)


def _display(widget) -> None:
    from IPython.display import display

    display(widget)


class _Lab:
    widget: W.Widget
    messages: MessageArea

    def _ipython_display_(self) -> None:
        _display(self.widget)

    def _guard(self, fn, *args, **kwargs):
        """Run a core call; show our errors (and anything unexpected) in place; return None."""
        try:
            return fn(*args, **kwargs)
        except MedprivError as exc:
            self.messages.show_error(exc)
        except Exception as exc:  # the lab must keep working
            self.messages.show_error(exc)
        return None


def _eps_slider(value: float, description: str = "ε") -> W.FloatLogSlider:
    return W.FloatLogSlider(value=value, base=10, min=np.log10(0.05), max=1.0, step=0.01,
                            description=description, readout_format=".2f",
                            continuous_update=False, layout=W.Layout(width="420px"))


# =============================================================================== (a) counting
class CountingQueryLab(_Lab):
    """A counting query with Laplace noise, on D (everyone) or D′ (one child removed).

    Parameters
    ----------
    labels : array of 0/1, optional
        One label per child (1 = pneumonia). Default: ``load_dataset(size=28, split="train")``.
    epsilon : float
        Starting ε (the slider covers 0.05–10 on a log scale).
    target_index : int, optional
        The child who can be left out; default the first child with pneumonia.
    seed : int
        Seed of the stream of noisy answers (each click draws the next one).
    caption : str, optional
        Where the labels came from (shown in the title); set automatically when loading.
    """

    def __init__(self, *, labels=None, epsilon: float = 1.0, target_index: int | None = None,
                 seed: int = 0, caption: str | None = None) -> None:
        self.messages = MessageArea()
        if labels is None:
            labels, caption, _ = cohort_labels()
        self.labels = np.asarray(labels)
        self.caption = caption or f"{self.labels.size} children"
        if target_index is None:
            hits = np.flatnonzero(self.labels == PNEUMONIA)
            target_index = int(hits[0]) if hits.size else 0
        self.target_index = int(target_index)
        self._rng = np.random.default_rng(seed)
        self.answers: list[float] = []
        count_d = M.exact_count(self.labels)
        count_dp = M.exact_count(np.delete(self.labels, self.target_index))
        self.counts = {"D": count_d, "D′": count_dp}

        self.eps_slider = _eps_slider(epsilon)
        self.dataset_toggle = W.ToggleButtons(
            options=[(f"D: all {self.labels.size} children", "D"),
                     (f"D′: without child #{self.target_index}", "D′")],
            value="D", description="Database", style={"button_width": "auto"})
        self.ask_button = W.Button(description="Ask the database", button_style="primary",
                                   icon="question")
        self.answer_html = W.HTML()
        self.statement = None
        self.fig = FigureWidget(layout=dict(
            height=400, margin=dict(l=60, r=20, t=80, b=50),
            xaxis_title="noisy answer (number of children with pneumonia)",
            yaxis_title="probability density", legend=dict(orientation="h", y=-0.25)))
        # Traces: 0 upper band edge, 1 lower band edge (filled), 2 D, 3 D′, 4 last answer.
        self.fig.add_scatter(name="e^ε × density on D′", line=dict(width=0), showlegend=False,
                             hoverinfo="skip")
        self.fig.add_scatter(name="allowed band: within a factor e^ε of D′", fill="tonexty",
                             fillcolor="rgba(26,115,232,0.15)", line=dict(width=0),
                             hoverinfo="skip")
        self.fig.add_scatter(name="answers on D (with the child)", line=dict(color="#d93025", width=2))
        self.fig.add_scatter(name="answers on D′ (without the child)",
                             line=dict(color="#1a73e8", width=2, dash="dash"))
        self.fig.add_scatter(name="last answer", mode="lines",
                             line=dict(color="black", width=2, dash="dot"))

        self.eps_slider.observe(lambda ch: self.set_epsilon(ch["new"]), names="value")
        self.dataset_toggle.observe(lambda ch: self._draw(), names="value")
        self.ask_button.on_click(lambda _: self.ask())
        self.widget = W.VBox([
            W.HTML(f"<b>How many of these children have pneumonia?</b> "
                   f"<small>({html.escape(self.caption)}; {ATTRIBUTION})</small>"),
            self.eps_slider, self.dataset_toggle, W.HBox([self.ask_button, self.answer_html]),
            self.fig, self.messages])
        self.widget.add_class("medpriv-dp-counting")
        # Stable hooks for the browser tests (tests/browser) and for workshop CSS.
        self.eps_slider.add_class("medpriv-dp-counting-eps")
        self.ask_button.add_class("medpriv-dp-counting-ask")
        self.answer_html.add_class("medpriv-dp-counting-answer")
        self.fig.add_class("medpriv-dp-counting-figure")
        self.messages.add_class("medpriv-message")
        self.distributions = None
        self._draw()

    @property
    def epsilon(self) -> float:
        return float(self.eps_slider.value)

    def set_epsilon(self, epsilon: float) -> None:
        """Set ε from code or the slider; an invalid ε is shown in place, the old one kept."""
        if self._guard(M.laplace_scale, epsilon=epsilon) is None:
            return
        if self.eps_slider.value != epsilon:
            self.eps_slider.value = epsilon  # re-enters through the observer
            if abs(self.eps_slider.value - epsilon) > 1e-12:  # clipped to the slider range
                self.messages.show(f"ε = {epsilon:g} is outside the slider's range; "
                                   f"using ε = {self.eps_slider.value:g}.", kind="warning")
            return
        self._draw()

    def set_dataset(self, which: str) -> None:
        """'D' (everyone) or 'D′' (without the target child)."""
        if which not in self.counts:
            self.messages.show(f"`which` must be 'D' or 'D′'; got {which!r}.", kind="error")
            return
        self.dataset_toggle.value = which

    def ask(self) -> float | None:
        """Draw one noisy answer on the selected database (Laplace, sensitivity 1)."""
        which = self.dataset_toggle.value
        labels = self.labels if which == "D" else np.delete(self.labels, self.target_index)
        result = self._guard(M.noisy_count, labels, epsilon=self.epsilon, seed=self._rng)
        if result is None:
            return None
        self.answers.append(result.answer)
        self.answer_html.value = (f"&nbsp; The database says: <b>{format_count(round(result.answer, 1))}"
                                  f"</b> <small>(Laplace noise of typical size "
                                  f"{format_number(result.noise_scale)}; rounded: "
                                  f"{format_count(round(result.answer))})</small>")
        self._draw()
        return result.answer

    def _draw(self) -> None:
        nd = self._guard(M.neighbour_distributions, value_d=self.counts["D"],
                         value_d_prime=self.counts["D′"], epsilon=self.epsilon)
        if nd is None:
            return
        self.messages.clear()
        self.distributions = nd
        said = counting_statement(epsilon=nd.epsilon, count_d=self.counts["D"],
                                  count_d_prime=self.counts["D′"])
        self.statement = said
        # The y axis follows the two answer curves, not the band: at large ε the band's top
        # (e^ε × the curve) would squash both curves flat against the x axis.
        ymax = 1.15 * float(max(nd.density_d.max(), nd.density_d_prime.max()))
        last = self.answers[-1] if self.answers else None
        with self.fig.batch_update():
            self.fig.data[0].update(x=nd.x, y=np.minimum(nd.band_high, ymax))
            self.fig.data[1].update(x=nd.x, y=nd.band_low)
            self.fig.data[2].update(x=nd.x, y=nd.density_d)
            self.fig.data[3].update(x=nd.x, y=nd.density_d_prime)
            self.fig.data[4].update(x=[last, last] if last is not None else [],
                                    y=[0, ymax] if last is not None else [])
            self.fig.layout.yaxis.range = [0, ymax]
            # Two short lines (a long one is cut at the figure's edge): the numbers, the verdict.
            self.fig.layout.title = dict(
                text=(said.numbers["head"] + (" — SYNTHETIC" if "SYNTHETIC" in self.caption
                                              else "") + "<br>" + said.numbers["phrase"]),
                font=dict(size=14))
            self.fig.layout.annotations = [dict(
                x=0.01, y=0.98, xref="paper", yref="paper", showarrow=False, align="left",
                text=said.numbers["readout"], bgcolor="rgba(255,255,255,0.8)")]


# =============================================================================== (b) survey
class RandomizedResponseLab(_Lab):
    """A class answers a sensitive yes/no question by randomized response.

    Each student tells the truth with probability e^ε/(1+e^ε), otherwise the opposite; nobody's
    answer proves anything about them, yet the class total can still be estimated.
    """

    def __init__(self, *, n: int = 30, true_fraction: float = 0.3, epsilon: float = 1.0,
                 n_repeats: int = 500, seed: int = 0) -> None:
        self.messages = MessageArea()
        self.n_repeats = n_repeats
        self._rng = np.random.default_rng(seed)
        self.eps_slider = _eps_slider(epsilon)
        self.n_slider = W.IntSlider(value=n, min=10, max=2000, step=10, description="class size",
                                    continuous_update=False, layout=W.Layout(width="420px"))
        self.frac_slider = W.FloatSlider(value=true_fraction, min=0.0, max=1.0, step=0.05,
                                         description="true 'yes'", continuous_update=False,
                                         layout=W.Layout(width="420px"))
        self.run_button = W.Button(description="Run the survey", button_style="primary",
                                   icon="users")
        self.summary = W.HTML()
        self.statement = None
        self.fig = FigureWidget(layout=dict(
            height=330, margin=dict(l=60, r=20, t=50, b=50), bargap=0.05,
            xaxis=dict(title="estimated share of 'yes' (outside 0–100%: drawn at the edge)",
                       range=[-0.02, 1.02], tickformat=".0%"),
            yaxis_title="surveys", legend=dict(orientation="h", y=-0.3)))
        self.fig.add_histogram(name=f"{format_count(n_repeats)} repeats of the survey",
                               marker_color="rgba(26,115,232,0.6)",
                               xbins=dict(start=0.0, end=1.0 + 1e-9, size=0.025))
        self.fig.add_scatter(name="truth", mode="lines", line=dict(color="#188038", width=3))
        self.fig.add_scatter(name="this class's estimate", mode="lines",
                             line=dict(color="#d93025", width=3, dash="dash"))
        self.run_button.on_click(lambda _: self.run())
        self.widget = W.VBox([
            W.HTML("<b>Survey: 'Have you ever looked up a patient you were not treating?'</b>"),
            self.eps_slider, self.n_slider, self.frac_slider, self.run_button, self.summary,
            self.fig, self.messages])
        self.widget.add_class("medpriv-dp-survey")
        for w, name in ((self.eps_slider, "eps"), (self.n_slider, "n"),
                        (self.frac_slider, "fraction"), (self.run_button, "run"),
                        (self.summary, "summary"), (self.fig, "figure")):
            w.add_class(f"medpriv-dp-survey-{name}")
        self.messages.add_class("medpriv-message")
        self.survey = None

    def run(self, *, epsilon: float | None = None, n: int | None = None,
            true_fraction: float | None = None):
        """Simulate one survey (values from the sliders unless given); returns the survey.

        Values given here move the sliders too, so the controls always show the survey on
        screen. An invalid value is shown in place and changes nothing.
        """
        eps = self.eps_slider.value if epsilon is None else epsilon
        n = self.n_slider.value if n is None else n
        frac = self.frac_slider.value if true_fraction is None else true_fraction
        s = self._guard(M.randomized_response_survey, n=n, true_fraction=frac, epsilon=eps,
                        n_repeats=self.n_repeats, seed=self._rng)
        if s is None:
            return None
        self.messages.clear()
        for slider, value in ((self.eps_slider, eps), (self.n_slider, n),
                              (self.frac_slider, frac)):
            if slider.value != value:
                slider.value = value
                if abs(slider.value - value) > 1e-9:  # outside the slider's range
                    self.messages.show(
                        f"{slider.description} = {value:g} is outside the slider's range "
                        f"({slider.min:g}–{slider.max:g}); the survey used {value:g}, the "
                        f"slider shows the nearest value.", kind="warning")
        self.survey = s
        said = survey_statement(n=int(s.answers.size), yes=int(s.answers.sum()),
                                truth_probability=s.truth_probability, estimate=s.estimate,
                                std_error=s.std_error, true_fraction=s.true_fraction,
                                epsilon=s.epsilon)
        self.statement = said
        self.summary.value = said.text
        top = max(1.0, float(self.n_repeats) / 5)
        shown = said.numbers["shown"]
        with self.fig.batch_update():
            # A share lies in 0–100 %: estimates outside it (many at small ε) are drawn at the
            # edge, where the axis ends, instead of stretching the axis to -200 % … 300 %.
            self.fig.data[0].x = np.clip(s.repeated_estimates, 0.0, 1.0)
            self.fig.data[1].update(x=[s.true_fraction] * 2, y=[0, top])
            self.fig.data[2].update(x=[shown] * 2, y=[0, top])
            # The histogram shows repeats of this one class, so its spread is the coin flips'
            # alone (repeat_spread), not the standard error from the answers (larger).
            self.fig.layout.title = (f"ε = {format_number(s.epsilon)}, "
                                     f"{format_count(s.answers.size)} students: repeated surveys "
                                     f"spread {spread_text(s.repeat_spread)}")
        return s


# =============================================================================== (c) budget
class BudgetLab(_Lab):
    """Each question spends ε from the dataset's privacy budget until the dataset locks.

    Parameters
    ----------
    ledger : PrivacyLedger, optional
        The budget to spend from. Default: :func:`fresh_ledger` (budget ``epsilon``,
        ``delta``): the reader starts with a whole budget every time the lesson runs, apart
        from any ledger the lesson's own cells spend from. Pass a ledger kept in
        :func:`~medpriv_widgets.paths.ledger_dir` to make the lock survive for good.
    query_epsilon : float
        ε each question costs (a slider lets the learner change it).

    A question the budget cannot pay for is refused and the dataset stays open for smaller
    ones; the question that uses the budget up is answered and locks the dataset.
    """

    def __init__(self, *, ledger: PrivacyLedger | None = None, epsilon: float = 1.0,
                 delta: float = 1e-5, query_epsilon: float = 0.25, labels=None,
                 seed: int = 0) -> None:
        self.messages = MessageArea()
        if ledger is None:
            ledger = fresh_ledger(epsilon=epsilon, delta=delta, institution="classroom")
        self.ledger = ledger
        if labels is None:
            labels, _, _ = cohort_labels()
        self.labels = np.asarray(labels)
        self._rng = np.random.default_rng(seed)
        self.query_slider = W.FloatLogSlider(value=query_epsilon, base=10, min=-2, max=0.5,
                                             step=0.01, description="ε per question",
                                             readout_format=".2f", continuous_update=False,
                                             style={"description_width": "initial"},
                                             layout=W.Layout(width="420px"))
        self.ask_button = W.Button(description="Ask: how many have pneumonia?",
                                   button_style="primary", layout=W.Layout(width="260px"))
        self.reset_button = W.Button(description="Reset budget (instructors only)",
                                     button_style="danger", icon="unlock",
                                     layout=W.Layout(width="260px"))
        self.bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="budget left",
                                   bar_style="success", style={"description_width": "initial"},
                                   layout=W.Layout(width="420px"))
        self.status = W.HTML()
        self.log = W.HTML()
        self.ask_button.on_click(lambda _: self.ask())
        self.reset_button.on_click(lambda _: self.reset(confirm=True))
        self.widget = W.VBox([
            W.HTML(f"<b>Privacy budget of dataset '{html.escape(ledger.dataset)}' at "
                   f"'{html.escape(ledger.institution)}'</b>"),
            self.query_slider, W.HBox([self.ask_button, self.reset_button]), self.bar,
            self.status, self.messages, self.log])
        self.widget.add_class("medpriv-dp-budget")
        self.query_slider.add_class("medpriv-budget-query")
        self.ask_button.add_class("medpriv-budget-ask")
        self.reset_button.add_class("medpriv-budget-reset")
        self.bar.add_class("medpriv-budget-bar")
        self.status.add_class("medpriv-budget-status")
        self.messages.add_class("medpriv-message")
        self._refresh()

    def ask(self, *, query_epsilon: float | None = None) -> float | None:
        """Spend ε from the ledger, then answer the count with Laplace noise at that ε."""
        eps = self.query_slider.value if query_epsilon is None else query_epsilon
        note = "noisy count of children with pneumonia"
        try:
            self.ledger.check_open()  # a locked dataset refuses before anything is computed
            self.ledger.spend(eps, note=note, mechanism="laplace")
            result = M.noisy_count(self.labels, epsilon=eps, seed=self._rng)
        except Exception as exc:  # shown in place (DatasetLocked, BudgetExhausted, bad ε)
            self._show_error(exc)
            self._refresh(keep_message=True)
            return None
        said = (f"The database says {format_count(round(result.answer, 1))} (this question "
                f"cost ε = {format_number(eps, rounding='up')}).")
        if self.ledger.locked:
            self.messages.show(f"{said} That used the last of the budget, so the dataset is "
                               f"now LOCKED: no further questions. An instructor can reset it "
                               f"with the red 'Reset budget (instructors only)' button.",
                               kind="error")
        else:
            self.messages.show(said, kind="info")
        self._refresh(keep_message=True)
        return result.answer

    def _show_error(self, exc: BaseException) -> None:
        """The ledger's words, plus what to do in this lab (the ledger names code)."""
        if isinstance(exc, PrivacyBudgetError) and self._locked_now():
            self.messages.show(f"{exc} In this lab, that is the red 'Reset budget (instructors "
                               f"only)' button.", kind="error")
        elif isinstance(exc, PrivacyBudgetError):  # refused, the dataset stays open
            left = format_number(self.ledger.remaining()[0], rounding="down")
            self.messages.show(f"{exc} Move 'ε per question' to {left} or less to use it.",
                               kind="warning")
        else:
            self.messages.show_error(exc)

    def _locked_now(self) -> bool:
        try:
            return self.ledger.locked
        except MedprivError:  # a damaged ledger is closed too
            return True

    def reset(self, *, confirm: bool = False) -> None:
        """The instructor's button: clears the budget (needs ``confirm=True`` from code)."""
        try:
            self.ledger.reset(confirm=confirm)
        except Exception as exc:
            self.messages.show_error(exc)
            return
        self.messages.show("The budget was reset by an instructor.", kind="success")
        self._refresh(keep_message=True)

    def _refresh(self, *, keep_message: bool = False) -> None:
        try:
            used = self.ledger.fraction_used()
            locked = self.ledger.locked
            history = self.ledger.history
            spent = self.ledger.spent()
        except MedprivError as exc:
            self.messages.show_error(exc)
            self.ask_button.disabled = True
            return
        self.bar.value = 1.0 - used
        self.bar.bar_style = "danger" if locked or used > 0.8 else (
            "warning" if used > 0.5 else "success")
        self.ask_button.disabled = locked
        eps_b, _ = self.ledger.budget
        n = len(history)
        left = max(eps_b - spent[0], 0.0)
        self.status.value = (f"Spent ε = {format_number(spent[0], rounding='up')} of "
                             f"{format_number(eps_b)} ({n} question{'' if n == 1 else 's'} "
                             f"answered)" + (" — <b>LOCKED</b>" if locked else
                                             f" — ε = {format_number(left, rounding='down')} left"))
        if locked and not keep_message:
            try:
                self.ledger.check_open()
            except MedprivError as exc:
                self._show_error(exc)
        elif not keep_message:
            self.messages.clear()
        rows = "".join(f"<li>{html.escape(r['when'][11:19])} UTC — {html.escape(r['note'])}: "
                       f"ε = {format_number(r['epsilon'], rounding='up')}</li>"
                       for r in history[-8:])
        self.log.value = f"<small><ol start='{max(1, len(history) - 7)}'>{rows}</ol></small>" if rows else ""


def fresh_ledger(*, epsilon: float = 1.0, delta: float = 1e-5, institution: str = "classroom",
                 dataset: str = "pneumoniamnist-train") -> PrivacyLedger:
    """A new ledger with a whole budget, in a folder of its own (a temporary one).

    For lessons: every run of the notebook starts from a whole budget, and the cells that
    demonstrate spending use one ledger while the reader's lab uses another. The file is
    real, so a second :class:`PrivacyLedger` opened on ``ledger.path`` (as after a kernel
    restart) sees every spend.
    """
    folder = Path(tempfile.mkdtemp(prefix="medpriv-ledger-"))
    return PrivacyLedger(folder, epsilon=epsilon, delta=delta, dataset=dataset,
                         institution=institution)
