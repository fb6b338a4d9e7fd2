"""Private-training lab: choose ε, see the noise and clipping it implies, train, compare.

``PrivateTrainingLab`` holds no mathematics: σ, q and steps come from
:func:`medpriv_widgets.training.plan_privacy` (which asks :mod:`medpriv_widgets.privacy.accounting`),
training and cached answers from the :class:`~medpriv_widgets.experiments.TrainModel` stage. Long
work runs through ``BackgroundJob`` with a Stop button; ``run(wait=True)`` does the same
synchronously for notebooks under test.
"""

from __future__ import annotations

import html
import math
import threading

import ipywidgets as W
from plotly.subplots import make_subplots

from .._validate import check_positive
from ..cache import ResultStore, default_store
from ..device import choose_device, device_label
from ..errors import InvalidParameterError
from ..experiments import TrainModel, human_seconds, run_stages, training_grid
from ..explain.numbers import format_number
from ..explain.training import setting_text, validation_gap_statement
from ..training import (DEFAULT_EPSILONS, EpochRecord, TrainConfig, load_pool, load_test,
                        plan_privacy, prepare_data)
from ._common import BackgroundJob, MessageArea, synthetic_data_notes, synthetic_message
from .plotting import FigureWidget

ATTRIBUTION = ("Chest X-rays: Kermany et al. 2018 (CC BY 4.0) via MedMNIST (Yang et al. 2023). "
               "Not for clinical use.")


def _eps_label(eps: float) -> str:
    return "∞ (not private)" if math.isinf(eps) else f"{eps:g}"


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _left(record: EpochRecord) -> str:
    """', about 40 s left' from the pace of the run so far (empty before the first epoch)."""
    if not record.step or record.step >= record.steps_total:
        return ""
    left = record.seconds / record.step * (record.steps_total - record.step)
    return f", about {human_seconds(left)} left"


class PrivateTrainingLab:
    """ε slider → σ and clipping → Train (progress, Stop, live curves) → AUC beside non-private.

    Parameters
    ----------
    config : TrainConfig, optional
        Everything but ε (default: ``TrainConfig()``, 64 px). The slider sets ``target_epsilon``.
    epsilons : sequence of float
        Slider positions (> 0; ``inf`` = not private, always added for the comparison).
        Default: the pre-computed grid ``medpriv_widgets.training.DEFAULT_EPSILONS``.
    epsilon : float
        Starting position (one of ``epsilons``).
    ledger : PrivacyLedger, optional
        Charged for every private run (a locked dataset refuses, shown in place).
    data, test_data : ChestXrayData, optional
        Training pool and test split (default: loaded for ``config.size``).
    cache : ResultStore, optional
        Where trained models are kept (default: :func:`medpriv_widgets.cache.default_store`).

    ``lab.widget`` (or the lab as the last expression of a cell) displays it.
    """

    def __init__(self, *, config: TrainConfig | None = None, epsilons=DEFAULT_EPSILONS,
                 epsilon: float = 8.0, ledger=None, data=None, test_data=None,
                 cache: ResultStore | None = None) -> None:
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise InvalidParameterError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
        eps_list = [check_positive("epsilons", e, allow_inf=True) for e in epsilons]
        if math.inf not in eps_list:
            eps_list.append(math.inf)
        self.epsilons = tuple(sorted(set(eps_list)))
        epsilon = check_positive("epsilon", epsilon, allow_inf=True)
        if epsilon not in self.epsilons:
            raise InvalidParameterError(f"`epsilon` must be one of {self.epsilons}; got {epsilon!r}.")
        self.ledger = ledger
        self.cache = cache if cache is not None else default_store()
        self._data, self._test = data, test_data
        self._n_train: int | None = None
        self._n_val: int | None = None
        self._lock = threading.Lock()
        self.job = BackgroundJob()
        self.result = None          # TrainResult shown now
        self.reference = None       # the non-private TrainResult
        self._live = {"epoch": [], "loss": [], "auc": []}

        self.messages = MessageArea()
        self.slider = W.SelectionSlider(
            options=[(_eps_label(e), e) for e in self.epsilons], value=epsilon,
            description="Privacy ε:", continuous_update=False,
            style={"description_width": "initial"}, layout=W.Layout(width="460px"))
        self.slider.add_class("medpriv-eps-slider")
        self.implied = W.HTML()
        self.train_button = W.Button(description="Train", icon="play", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.grid_button = W.Button(description="Pre-compute all ε", icon="table",
                                    tooltip="Train (or load) one model per slider position",
                                    layout=W.Layout(width="auto"))  # else the label is cut
        self.progress = W.IntProgress(value=0, min=0, max=1, description="Progress:",
                                      layout=W.Layout(width="460px"))
        self.status = W.HTML()
        self.setting = W.HTML()
        self.table = W.HTML()
        self.figure = FigureWidget(make_subplots(
            rows=1, cols=2, subplot_titles=("Training loss",
                                            "Validation AUC (held-back training X-rays)")))
        self.figure.add_scatter(x=[], y=[], mode="lines+markers", name="loss", row=1, col=1)
        self.figure.add_scatter(x=[], y=[], mode="lines+markers", name="AUC (this run)", row=1, col=2)
        self.figure.add_scatter(x=[], y=[], mode="lines", name="AUC (not private)",
                                line={"dash": "dash", "color": "grey"}, row=1, col=2)
        self.figure.update_layout(height=340, margin={"l": 50, "r": 20, "t": 80, "b": 40},
                                  title=self._title(), legend={"orientation": "h", "y": -0.2})
        self.figure.update_xaxes(title_text="epoch")
        self.figure.update_yaxes(range=[0.4, 1.0], row=1, col=2)

        self.slider.observe(self._on_slider, names="value")
        self.train_button.on_click(lambda _: self.run(wait=False))
        self.stop_button.on_click(lambda _: self.stop())
        self.grid_button.on_click(lambda _: self.precompute(wait=False))
        self.header = W.HTML(f"<b>Private training of a pneumonia classifier</b> "
                             f"<small>({html.escape(ATTRIBUTION)})</small>")
        self.widget = W.VBox([
            self.header, self.setting,
            self.slider, self.implied,
            W.HBox([self.train_button, self.stop_button, self.grid_button]),
            W.HBox([self.progress, self.status]), self.figure, self.table, self.messages])
        self.widget.add_class("medpriv-private-training")
        # Stable hooks for the browser tests (tests/browser) and for workshop CSS.
        for w, name in ((self.implied, "implied"), (self.setting, "setting"),
                        (self.train_button, "train"),
                        (self.stop_button, "stop"), (self.grid_button, "grid"),
                        (self.progress, "progress"), (self.status, "status"),
                        (self.table, "table"), (self.figure, "figure")):
            w.add_class(f"medpriv-training-{name}")
        self.messages.add_class("medpriv-message")
        self._on_slider(None)

    # ------------------------------------------------------------------ helpers
    def _title(self, data_caption: str = "", device: str | None = None) -> str:
        # Two short lines: one long line was cut at the figure's edge ("… — CPU (2 t").
        dev = device or device_label(choose_device())
        caption = data_caption or f"chest X-rays, {self.config.size} px"
        return f"DP-SGD on {html.escape(caption)}<br><sup>computed on {html.escape(dev)}</sup>"

    def _load(self):
        with self._lock:
            notes: list[str] = []
            if self._data is None or self._test is None:
                with synthetic_data_notes() as notes:  # said in the lab's own message
                    if self._data is None:
                        self._data = load_pool(self.config)
                    if self._test is None:
                        self._test = load_test(self.config)
            if self._n_train is None:
                train_set, val_set = prepare_data(self.config, self._data)
                self._n_train, self._n_val = len(train_set), len(val_set)
                self.figure.layout.title.text = self._title(self._data.caption)
                self.setting.value = "<small>" + html.escape(setting_text(
                    size=self.config.size, n_train=self._n_train, n_val=self._n_val,
                    n_test=len(self._test), epochs=self.config_for(8.0).epochs)) + "</small>"
                if self._data.synthetic:
                    self.messages.show(synthetic_message(notes), kind="warning")
        return self._data, self._test

    def seconds_to_train(self, epsilon: float, *, compare: bool = True) -> float:
        """Estimated seconds that Train at ``epsilon`` takes on this machine now (0 when the
        models are cached): the non-private model for the comparison first, if missing."""
        self._load()
        eps = [math.inf] if compare and not math.isinf(epsilon) else []
        return sum(self.stage_for(e).seconds_left(self.cache) for e in eps + [epsilon])

    def config_for(self, epsilon: float) -> TrainConfig:
        """The full configuration the slider position ``epsilon`` trains."""
        return self.config.with_(target_epsilon=float(epsilon), noise_multiplier=None).effective()

    def stage_for(self, epsilon: float) -> TrainModel:
        """The training stage of slider position ``epsilon`` (on this lab's data)."""
        return TrainModel(self.config_for(epsilon), data=self._data, test_data=self._test,
                          ledger=None if math.isinf(epsilon) else self.ledger)

    def describe(self, epsilon: float) -> str:
        """HTML sentence: the σ, clipping, q, steps and δ an ε implies (from the accountant)."""
        self._load()
        plan = plan_privacy(self.config_for(epsilon), self._n_train, cache=self.cache)
        if not plan.private:
            return ("<b>Not private:</b> each child's gradient is used as is — no clipping, no "
                    f"noise. {plan.steps} steps of about "
                    f"{self.config_for(epsilon).batch_size} images.")
        return (f"<b>ε = {epsilon:g}</b> (δ = {plan.delta:g}) means: each child's gradient is "
                f"clipped to length <b>C = {plan.max_grad_norm:g}</b>, and Gaussian noise of "
                f"standard deviation <b>σ·C = {plan.noise_multiplier * plan.max_grad_norm:.3g}</b> "
                f"(noise multiplier σ = {plan.noise_multiplier:.3f}) is added to every batch sum; "
                f"each child joins a batch with probability q = {plan.sample_rate:.4f}, "
                f"{plan.steps} steps in all.")

    # ------------------------------------------------------------------ events
    def _on_slider(self, _change) -> None:
        eps = self.slider.value
        self.implied.value = "<i>Working out the noise this ε needs…</i>"

        def body():
            try:
                self.implied.value = self.describe(eps)
                hit = self.stage_for(eps).load(self.cache)
                if hit is not None and self.slider.value == eps:
                    self._show_result(hit, cached=True)
                elif hit is None and self.slider.value == eps and not self.job.running:
                    # The table may still show the previous model: say that this ε has none yet,
                    # and what pressing Train costs, before anyone presses it.
                    ref = (not math.isinf(eps)
                           and not self.stage_for(math.inf).is_done(self.cache))
                    self.status.value = (
                        f"No model for ε = {html.escape(_eps_label(eps))} yet: press Train "
                        f"(about {human_seconds(self.seconds_to_train(eps))} on this machine"
                        + (", the model without privacy first, for the comparison" if ref
                           else "") + ")"
                        + (" — the table shows the previous one." if self.result is not None
                           else ".")
                    )
            except Exception as exc:  # shown in place; the lab keeps working
                self.implied.value = ""
                self.messages.show_error(exc)

        if _change is None:
            body()  # constructor: synchronous, so a notebook's first output is complete
        else:
            threading.Thread(target=body, daemon=True).start()

    def _reset_curves(self) -> None:
        self._live = {"epoch": [], "loss": [], "auc": []}
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = [], []
            self.figure.data[1].x, self.figure.data[1].y = [], []

    def _on_progress(self, record: EpochRecord) -> None:
        self._live["epoch"].append(record.epoch)
        self._live["loss"].append(record.loss)
        self._live["auc"].append(record.val.get("auc", math.nan))
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = self._live["epoch"], self._live["loss"]
            self.figure.data[1].x, self.figure.data[1].y = self._live["epoch"], self._live["auc"]
        self.progress.max, self.progress.value = record.steps_total, record.step
        eps = ("∞" if math.isinf(record.epsilon_spent)
               else format_number(record.epsilon_spent, rounding="up"))
        self.status.value = (f"epoch {record.epoch}/{record.epochs} · ε spent {eps} · "
                             f"{record.seconds:.0f} s{_left(record)}")

    def _on_ref(self, record) -> None:
        self.progress.max, self.progress.value = record.steps_total, record.step
        self.status.value = (f"first the model without privacy, for comparison: epoch "
                             f"{record.epoch}/{record.epochs} ({record.seconds:.0f} s"
                             f"{_left(record)})")

    def _show_curves(self, result) -> None:
        ep = [h["epoch"] for h in result.history]
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = ep, [h["loss"] for h in result.history]
            self.figure.data[1].x = ep
            self.figure.data[1].y = [h["val"].get("auc", math.nan) for h in result.history]
            if self.reference is not None:
                rep = [h["epoch"] for h in self.reference.history]
                self.figure.data[2].x = rep
                self.figure.data[2].y = [h["val"].get("auc", math.nan) for h in self.reference.history]

    def _show_result(self, result, *, cached: bool = False) -> None:
        self.result = result
        if not result.private:
            self.reference = result
        elif self.reference is None:
            self.reference = self.stage_for(math.inf).load(self.cache)
        self._show_curves(result)
        # a stopped run shows how far it got; a finished one a full bar
        planned = result.history[-1]["steps_total"] if result.history else result.steps
        self.progress.max, self.progress.value = max(planned, 1), result.steps
        self.status.value = ("answered from the cache" if cached else
                             f"{'stopped' if result.stopped else 'done'} in {result.seconds:.0f} s "
                             f"on {html.escape(result.device)}")
        # The title names the device that computed what is shown (a cached model may come from
        # another machine or thread count), not the one this kernel would use.
        self.figure.layout.title.text = self._title(result.data_caption, result.device)
        self.table.value = self._table_html(result)

    def _table_html(self, result) -> str:
        cols = [("This model" + (f" (ε = {format_number(result.epsilon, rounding='up')})"
                                 if result.private else
                                 " (not private)"), result)]
        if result.private and self.reference is not None:
            cols.append(("Not private", self.reference))
        rows = [("Test AUC", lambda r: f"{r.test_metrics['auc']:.3f}"),
                ("Sensitivity (pneumonia found)", lambda r: _pct(r.test_metrics["sensitivity"])),
                ("Specificity (normal cleared)", lambda r: _pct(r.test_metrics["specificity"])),
                ("Noise multiplier σ", lambda r: f"{r.noise_multiplier:.3f}" if r.private else "0"),
                ("Training images", lambda r: f"{r.n_train}")]
        head = "".join(f"<th style='padding:2px 12px'>{html.escape(c)}</th>" for c, _ in cols)
        body = "".join("<tr><td>" + html.escape(name) + "</td>" + "".join(
            f"<td style='padding:2px 12px;text-align:right'>{fn(r)}</td>" for _, r in cols)
            + "</tr>" for name, fn in rows)
        note = ("" if result.private and self.reference is not None or not result.private else
                "<br><small>Train ε = ∞ once to see the non-private model beside it.</small>")
        warn = " <b>(SYNTHETIC data)</b>" if result.synthetic else ""
        if getattr(result, "stopped", False):
            # A stopped run is evaluated as it stands; say so, or its low AUC reads as the
            # price of privacy.
            note += ("<br><small><b>Training was stopped early:</b> these numbers are for a "
                     "partly trained model. Press Train to train it fully.</small>")
        gap = validation_gap_statement(
            val_auc=result.val_metrics.get("auc", 0.0) if result.val_metrics else 0.0,
            test_auc=result.test_metrics["auc"],
            official_test=bool(getattr(self._test, "official", True)))
        if gap.text:
            note += f"<br><small>{html.escape(gap.text)}</small>"
        return (f"<table><tr><th></th>{head}</tr>{body}</table>"
                f"<small>Test split: {result.n_test} images, threshold 0.5{warn}.</small>{note}")

    def summary(self) -> str:
        """Plain-text lines for a notebook cell: the model on screen beside the non-private
        one, or what to press when nothing is trained yet."""
        if self.result is None:
            eps = self.slider.value
            return (f"No trained model for ε = {_eps_label(eps)} yet. Press Train in the lab "
                    f"above (about {human_seconds(self.seconds_to_train(eps))} on this "
                    f"machine), then run this cell again.")
        lines = []
        for name, r in (("Not private", self.reference), ("DP-SGD", self.result)):
            if r is None or (name == "DP-SGD" and not r.private):
                continue
            m = r.test_metrics
            eps = (f"ε = {format_number(r.epsilon, rounding='up')}" if r.private else "ε = ∞")
            label = f"{name} ({eps})"
            lines.append(f"{label:<20}  test AUC {m['auc']:.3f}   sensitivity "
                         f"{_pct(m['sensitivity'])}   specificity {_pct(m['specificity'])}"
                         + (f"   σ = {r.noise_multiplier:.2f}" if r.private else "")
                         + ("   (stopped early)" if r.stopped else ""))
        gap = validation_gap_statement(
            val_auc=self.result.val_metrics.get("auc", 0.0) if self.result.val_metrics else 0.0,
            test_auc=self.result.test_metrics["auc"],
            official_test=bool(getattr(self._test, "official", True)))
        if gap.text:
            lines.append(gap.text)
        if self.result.synthetic:
            lines.append("(SYNTHETIC phantoms: no real X-ray file was available, so these "
                         "numbers mean nothing clinically.)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ actions
    def _set_running(self, running: bool) -> None:
        self.train_button.disabled = running
        self.grid_button.disabled = running
        self.slider.disabled = running
        self.stop_button.disabled = not running

    def run(self, *, epsilon: float | None = None, compare: bool = True, wait: bool = True) -> None:
        """Train (or load from the cache) the model for ``epsilon`` (default: the slider's).

        ``compare=True`` first makes sure the non-private model exists (cached after the first
        time) so the table can show both. ``wait=True`` runs here and returns when done.
        """
        if self.job.running:
            return
        try:
            if epsilon is not None:
                epsilon = check_positive("epsilon", epsilon, allow_inf=True)
                if epsilon not in self.epsilons:
                    raise InvalidParameterError(
                        f"`epsilon` must be one of the slider's values {self.epsilons}; got {epsilon!r}.")
                self.slider.value = epsilon
            eps = self.slider.value
            self._load()
            if self.ledger is not None:
                self.ledger.check_open()
        except Exception as exc:
            self.messages.show_error(exc)
            return
        if not self._data.synthetic:  # keep the synthetic-data warning visible
            self.messages.clear()
        self._reset_curves()
        self.progress.value = 0
        self._set_running(True)
        targets = ([math.inf] if compare and not math.isinf(eps) else []) + [eps]
        try:
            est = self.seconds_to_train(eps, compare=compare)
        except Exception:  # an estimate must never stop the run
            est = math.nan
        self.status.value = ("training…" if not est else
                             f"training… (about {human_seconds(est)} on this machine)")

        def make(stop):
            for e in targets:
                if stop.requested:
                    return
                last = None
                for last in self.stage_for(e).run(cache=self.cache, stop=stop):
                    if isinstance(last.partial, EpochRecord):
                        (self._on_progress if e == eps else self._on_ref)(last.partial)
                if last is not None:
                    yield e, last.partial

        def on_item(item):
            e, res = item
            if math.isinf(e) and e != eps:
                self.reference = res
                self.status.value = "non-private model ready; now the private one…"
            else:
                self._show_result(res)

        self.job.start(make, on_item=on_item, on_error=self.messages.show_error,
                       on_done=lambda _stopped: self._set_running(False), wait=wait)

    def precompute(self, *, wait: bool = True) -> None:
        """Train (or load) one model per slider position, so every position answers instantly."""
        if self.job.running:
            return
        try:
            self._load()
        except Exception as exc:
            self.messages.show_error(exc)
            return
        self._set_running(True)
        todo = [math.inf] + [e for e in self.epsilons if not math.isinf(e)]
        stages = training_grid(base=self.config, epsilons=todo, data=self._data,
                               test_data=self._test)
        # Count what the cache already holds before anything runs, so the count is right from
        # the first message ("3 of 7 ready") instead of growing as cached ones are read.
        cached = {e for e, st in zip(todo, stages) if st.is_done(self.cache)}
        seconds = sum(st.seconds_left(self.cache) for st in stages)
        self.progress.max, self.progress.value = len(todo), len(cached)
        done: dict = {}
        self.status.value = (f"{len(cached)} of {len(todo)} ε values ready (from the cache); "
                             f"training the other {len(todo) - len(cached)}, about "
                             f"{human_seconds(seconds)} on this machine")

        def on_item(p):
            update = p.partial
            if p.stopped or not getattr(update, "finished", False):
                return
            eps, result = todo[update.index], update.value
            done[eps] = result
            if eps not in cached:
                self.progress.value += 1
            if math.isinf(eps):
                self.reference = result
            if eps == self.slider.value:
                self._show_result(result, cached=True)
            ready = len(cached | set(done))
            self.status.value = (f"{ready} of {len(todo)} ε values ready · ε = "
                                 f"{html.escape(_eps_label(eps))}: test AUC "
                                 f"{result.test_metrics['auc']:.3f}")

        self.job.start(lambda stop: run_stages(stages, cache=self.cache, stop=stop),
                       on_item=on_item, on_error=self.messages.show_error,
                       on_done=lambda _stopped: self._set_running(False), wait=wait)

    def stop(self) -> None:
        """Ask the running job to stop after the current batch."""
        self.job.stop()
        self.status.value = "stopping after this batch…"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
