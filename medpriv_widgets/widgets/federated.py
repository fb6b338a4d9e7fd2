"""Federated-hospitals lab: sites with budget bars, rounds and Train/Stop, AUC per round, what the
server sees with and without secure aggregation, and what it can rebuild.

``FederatedLab`` holds no mathematics: rounds come from the
:class:`~medpriv_widgets.federated.Federation` stage, baselines from
:func:`~medpriv_widgets.federated.baselines.baseline_stages`, the attack from
:class:`~medpriv_widgets.federated.leakage.AggregateLeakage`, sentences from
:mod:`medpriv_widgets.explain.federated`. Long work runs through ``BackgroundJob`` with a Stop
button; ``run(wait=True)``, ``compare(wait=True)`` and ``attack(wait=True)`` do the same
synchronously for notebooks under test.
"""

from __future__ import annotations

import html
import math
import os
import threading

import ipywidgets as W
import numpy as np

from .._validate import check_int, check_positive
from ..cache import ResultStore, default_store
from ..device import choose_device, device_label
from ..errors import InvalidParameterError
from ..experiments import human_seconds
from ..explain.federated import (comparison_statement, leakage_statement, secure_view_statement,
                                 site_budget_statement)
from ..federated import (LOCKED, LOCKED_NOW, Federation, FederationResult, FederationSettings,
                         RoundRecord, site_ledgers)
from ..federated.baselines import CENTRALISED, baseline_stages
from ..federated.leakage import AggregateLeakage, LeakageResult
from ..progress import Progress
from ._common import BackgroundJob, MessageArea
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png
from .plotting import FigureWidget

ATTRIBUTION = ("Chest X-rays: Kermany et al. 2018 (CC BY 4.0) via MedMNIST (Yang et al. 2023). "
               "Not for clinical use.")
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _heat_png(vector: np.ndarray, *, symmetric_to: float | None = None) -> bytes:
    """A vector as a square grey picture (the first side² values), for 'what the server sees'."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    side = max(1, int(math.isqrt(v.size)))
    grid = v[: side * side].reshape(side, side)
    m = symmetric_to if symmetric_to is not None else float(np.abs(grid).max()) or 1.0
    return to_png(grid, vmin=-m, vmax=m)


class FederatedLab:
    """Hospitals → rounds (Train/Stop) → global and per-site AUC → the server's view → the attack.

    Parameters
    ----------
    settings : FederationSettings
        The federation (the rounds slider and the secure-aggregation toggle change a copy).
    budget : float, optional
        ε budget of every hospital (only when the hospitals train with DP-SGD,
        ``settings.noise_multiplier``); a slider offers it. Each Train starts every hospital's
        ledger afresh at this budget.
    ledger_dir : path, optional
        Where the hospitals' ledgers live (default: ``<cache root>/ledgers-federated-lab``).
    pool, test_data : ChestXrayData, optional
        Training pool and test split (default: loaded for ``settings.size``).
    cache : ResultStore, optional
        Where results are kept (default: :func:`medpriv_widgets.cache.default_store`).
    attack_iterations : int
        Iterations of the reconstruction attack.
    """

    def __init__(self, *, settings: FederationSettings, budget: float | None = None,
                 ledger_dir=None, pool=None, test_data=None, cache: ResultStore | None = None,
                 attack_iterations: int = 200) -> None:
        if not isinstance(settings, FederationSettings):
            raise InvalidParameterError(
                f"`settings` must be a FederationSettings; got {type(settings).__name__}.")
        self.settings = settings
        if budget is not None:
            budget = check_positive("budget", budget, hint="A hospital's privacy budget is a "
                                    "positive ε, e.g. 4.0.")
            if not settings.private:
                raise InvalidParameterError(
                    "A `budget` needs hospitals that train with DP-SGD: set "
                    "`noise_multiplier` in the settings (e.g. 1.0), or leave `budget` out.")
        self.cache = cache if cache is not None else default_store()
        self.ledger_dir = (ledger_dir if ledger_dir is not None
                           else os.path.join(self.cache.root, "ledgers-federated-lab"))
        self.attack_iterations = check_int("attack_iterations", attack_iterations, low=1)
        self._pool, self._test = pool, test_data
        self.job = BackgroundJob()
        self.result: FederationResult | None = None
        self.baselines: dict = {}
        self.leakage: dict[int, LeakageResult] = {}
        self._lock = threading.Lock()
        self._rounds_seen: list[RoundRecord] = []

        self.messages = MessageArea()
        self.messages.add_class("medpriv-message")
        self.rounds = W.IntSlider(value=settings.rounds, min=1, max=max(50, settings.rounds),
                                  description="Rounds:", continuous_update=False,
                                  layout=W.Layout(width="360px"))
        self.secure = W.Checkbox(value=settings.secure_aggregation,
                                 description="Secure aggregation (the server sees only the sum)",
                                 indent=False, layout=W.Layout(width="auto"))
        self.budget = W.FloatSlider(value=budget or 4.0, min=0.5, max=20.0, step=0.5,
                                    description="Budget per hospital ε:", continuous_update=False,
                                    style={"description_width": "initial"},
                                    layout=W.Layout(width="420px",
                                                    display=None if budget is not None else "none"))
        self.train_button = W.Button(description="Train", icon="play", button_style="primary")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.compare_button = W.Button(description="Compare with centralised", icon="balance-scale",
                                       layout=W.Layout(width="auto"))
        self.attack_button = W.Button(description="Attack the server's view", icon="user-secret",
                                      layout=W.Layout(width="auto"))
        self.progress = W.IntProgress(value=0, min=0, max=1, description="Progress:",
                                      layout=W.Layout(width="360px"))
        self.status = W.HTML()
        self.costs = W.HTML()
        self.sites = W.HTML()
        self.comparison = W.HTML()
        self.view_text = W.HTML()
        self.view_update = W.Image(format="png", layout=W.Layout(width="180px", height="180px"))
        self.view_received = W.Image(format="png", layout=W.Layout(width="180px", height="180px"))
        self.attack_text = W.HTML()
        self.attack_images = W.HBox()
        self.figure = FigureWidget()
        self.figure.add_scatter(x=[], y=[], mode="lines+markers", name="global model",
                                line={"width": 4, "color": "black"})
        for i, spec in enumerate(settings.sites):
            self.figure.add_scatter(x=[], y=[], mode="lines", name=spec.name,
                                    line={"dash": "dot", "color": _COLORS[i % len(_COLORS)]})
        self.figure.update_layout(height=340, margin={"l": 50, "r": 20, "t": 60, "b": 40},
                                  title=self._title(), xaxis_title="round",
                                  yaxis_title="test AUC", yaxis_range=[0.4, 1.0],
                                  legend={"orientation": "h", "y": -0.25})

        self.train_button.on_click(lambda _: self.run(wait=False))
        self.stop_button.on_click(lambda _: self.stop())
        self.compare_button.on_click(lambda _: self.compare(wait=False))
        self.attack_button.on_click(lambda _: self.attack(wait=False))
        self.secure.observe(lambda _: self._show_cached(), names="value")
        self.rounds.observe(lambda _: self._show_cached(), names="value")
        self.budget.observe(lambda _: self._show_cached(), names="value")

        view = W.VBox([W.HTML("<b>What the server receives from one hospital</b>"), self.view_text,
                       W.HBox([W.VBox([W.HTML("<small>the hospital's real update</small>"),
                                       self.view_update]),
                               W.VBox([W.HTML("<small>what arrives at the server</small>"),
                                       self.view_received])])])
        attack = W.VBox([W.HTML("<b>What the server can rebuild</b>"), self.attack_button,
                         self.attack_text, self.attack_images])
        self.widget = W.VBox([
            W.HTML(f"<b>Federated learning across hospitals</b> "
                   f"<small>({html.escape(ATTRIBUTION)})</small>{PIXELATED_CSS}"),
            self.sites, W.HBox([self.rounds, self.secure]), self.budget,
            W.HBox([self.train_button, self.stop_button, self.compare_button]), self.costs,
            W.HBox([self.progress, self.status]), self.figure, self.comparison, view, attack,
            self.messages])
        self.widget.add_class("medpriv-federated")
        for w, name in ((self.sites, "sites"), (self.rounds, "rounds"), (self.secure, "secure"),
                        (self.budget, "budget"), (self.train_button, "train"),
                        (self.stop_button, "stop"), (self.compare_button, "compare"),
                        (self.progress, "progress"), (self.status, "status"),
                        (self.costs, "costs"),
                        (self.figure, "figure"), (self.comparison, "comparison"),
                        (view, "server-view"), (self.view_text, "view-text"),
                        (self.view_received, "view-received"), (attack, "attack"),
                        (self.attack_button, "attack-button"), (self.attack_text, "attack-text"),
                        (self.attack_images, "attack-images")):
            w.add_class(f"medpriv-federated-{name}")
        try:
            self._show_sites(None)
            self._show_cached()
        except Exception as exc:  # shown in place; the lab keeps working
            self.messages.show_error(exc)

    # ------------------------------------------------------------------ state
    def _title(self, caption: str = "") -> str:
        return (f"Global and per-hospital test AUC per round — {caption or 'chest X-rays'} — "
                f"{device_label(choose_device())}")

    def current_settings(self) -> FederationSettings:
        """The settings the controls describe now."""
        return self.settings.with_(rounds=int(self.rounds.value),
                                   secure_aggregation=bool(self.secure.value),
                                   dropouts=tuple(d for d in self.settings.dropouts
                                                  if d[0] <= int(self.rounds.value)))

    @property
    def _budgeted(self) -> bool:
        """True when every hospital has a privacy budget (DP-SGD and a budget given)."""
        return self.settings.private and self.budget.layout.display != "none"

    def _ledgers(self, *, reset: bool):
        if not self._budgeted:
            return None
        return site_ledgers(self.ledger_dir, self.current_settings(),
                            epsilon=float(self.budget.value), reset=reset)

    def stage(self, *, ledgers=None) -> Federation:
        """The Federation stage of the current controls (on this lab's data)."""
        with self._lock:
            fed = Federation(self.current_settings(), pool=self._pool, test_data=self._test,
                             ledgers=ledgers)
            self._pool, self._test = fed._data
        if fed._data[0].synthetic and not self.messages.value:
            self.messages.show("These are SYNTHETIC phantoms, not real X-rays: numbers here say "
                               "nothing about real diagnosis.", kind="warning")
        return fed

    def _train_stage(self) -> Federation:
        """The stage Train would run (with budgets: on fresh ledgers, as each Train starts)."""
        ledgers = None
        if self._budgeted:
            ledgers = _FreshLedgers(self.current_settings(), float(self.budget.value),
                                    self.settings.delta)
        return self.stage(ledgers=ledgers)

    def _cached_result(self) -> FederationResult | None:
        return self._train_stage().load(self.cache)

    def _show_cached(self) -> None:
        if self.job.running:
            return
        try:
            hit = self._cached_result()
        except Exception as exc:
            self.messages.show_error(exc)
            return
        if hit is not None:
            self._show_result(hit, cached=True)
        else:
            self.status.value = "No run with these settings yet: press Train."
            self._show_view(None)
        self._show_costs()

    # ------------------------------------------------------------------ drawing
    def _show_sites(self, record: RoundRecord | None) -> None:
        hospitals = self.stage().hospitals
        rows = []
        for i, h in enumerate(hospitals):
            site = record.sites[i] if record is not None else None
            bar, status = "", "waiting"
            if site is not None:
                status = site.status
                if site.budget is not None:
                    share = site.budget_fraction
                    colour = "#d93025" if site.status in (LOCKED, LOCKED_NOW) else "#1a73e8"
                    bar = (f"<div class='medpriv-federated-bar' title='{html.escape(site_budget_statement(site=h.name, spent=site.epsilon, budget=site.budget, locked=site.status in (LOCKED, LOCKED_NOW)).text)}' "
                           f"style='width:140px;height:12px;background:#e0e0e0;display:inline-block'>"
                           f"<div style='width:{100 * share:.0f}%;height:12px;background:{colour}'></div>"
                           f"</div> {100 * share:.0f}%")
                elif math.isfinite(site.epsilon):
                    bar = f"ε spent {site.epsilon:.2f}"
            elif self._budgeted:
                bar = ("<div class='medpriv-federated-bar' style='width:140px;height:12px;"
                       "background:#e0e0e0;display:inline-block'></div> 0%")
            style = " style='color:#d93025;font-weight:bold'" if status in (LOCKED, LOCKED_NOW) else ""
            rows.append(f"<tr><td><span style='color:{_COLORS[i % len(_COLORS)]}'>■</span> "
                        f"{html.escape(h.name)}</td><td style='text-align:right'>{h.n_images:,}</td>"
                        f"<td style='text-align:right'>{h.n_patients:,}</td>"
                        f"<td style='text-align:right'>{100 * h.pneumonia_rate:.0f} %</td>"
                        f"<td>{bar}</td><td{style}>{html.escape(status)}</td></tr>")
        head = ("<tr><th>Hospital</th><th>X-rays</th><th>children</th><th>pneumonia</th>"
                "<th>privacy budget used</th><th>this round</th></tr>")
        self.sites.value = (f"<table class='medpriv-federated-table'>{head}{''.join(rows)}</table>"
                            "<small>Every child's X-rays stay in one hospital; only model "
                            "changes travel.</small>")

    def _show_round(self, record: RoundRecord) -> None:
        self._rounds_seen.append(record)
        x = [r.round for r in self._rounds_seen]
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = x, [r.auc for r in self._rounds_seen]
            for i in range(len(record.sites)):
                self.figure.data[1 + i].x = x
                self.figure.data[1 + i].y = [r.sites[i].auc for r in self._rounds_seen]
        self._show_sites(record)
        self.progress.max, self.progress.value = record.rounds, record.round
        self.status.value = html.escape(record.message())
        for site in record.sites:
            if site.status == LOCKED_NOW:
                self.messages.show(site.message, kind="warning")
        if record.abandoned:
            self.messages.show(record.abandoned, kind="warning")
        if record.view_update is not None:
            self._show_view(record)

    def _show_view(self, record: RoundRecord | None) -> None:
        if record is None or record.view_update is None:
            self.view_text.value = "<i>Train to see what travels to the server.</i>"
            return
        name = record.sites[record.view_site].name
        self.view_text.value = html.escape(secure_view_statement(secure=record.secure,
                                                                 site=name).text)
        self.view_update.value = _heat_png(record.view_update)
        self.view_received.value = (_heat_png(record.view_received, symmetric_to=0.5)
                                    if record.secure else _heat_png(record.view_received))

    def _show_result(self, result: FederationResult, *, cached: bool = False) -> None:
        self.result = result
        self._rounds_seen = []
        self.figure.layout.title.text = self._title(result.data_caption)
        for record in result.history:
            self._show_round(record)
        last = next((r for r in reversed(result.history) if r.view_update is not None), None)
        self._show_view(last)
        if not result.stopped:
            self.progress.max, self.progress.value = max(result.rounds_done, 1), result.rounds_done
        done = (f"stopped after {result.rounds_done} rounds" if result.stopped else
                f"done: global test AUC {result.auc:.3f}")
        self.status.value = (("answered from the cache · " if cached else "")
                             + f"{done} · {result.seconds:.0f} s on {html.escape(result.device)}")
        if result.ended:
            self.messages.show(result.ended, kind="warning")
        self._show_comparison()

    def _show_comparison(self) -> None:
        if self.result is None or not self.baselines:
            return
        singles = {k: v.test_metrics["auc"] for k, v in self.baselines.items() if k != CENTRALISED}
        best = max(singles, key=singles.get)
        statement = comparison_statement(
            federated=self.result.auc, centralised=self.baselines[CENTRALISED].test_metrics["auc"],
            best_single=singles[best], best_site=best, rounds=self.result.rounds_done)
        rows = "".join(f"<tr><td>{html.escape(k)} alone</td><td>{v:.3f}</td></tr>"
                       for k, v in singles.items())
        self.comparison.value = (
            f"<p>{html.escape(statement.text)}</p><table>"
            f"<tr><td><b>Federated (global model)</b></td><td><b>{self.result.auc:.3f}</b></td></tr>"
            f"<tr><td>Centralised (all X-rays pooled)</td>"
            f"<td>{self.baselines[CENTRALISED].test_metrics['auc']:.3f}</td></tr>{rows}</table>")

    # ------------------------------------------------------------------ actions
    def _set_running(self, running: bool) -> None:
        for w in (self.train_button, self.compare_button, self.attack_button, self.rounds,
                  self.secure, self.budget):
            w.disabled = running
        self.stop_button.disabled = not running

    def _finished(self, _stopped: bool) -> None:
        self._set_running(False)
        self._show_costs()

    def run(self, *, wait: bool = True) -> None:
        """Train (or read) the federation the controls describe; rounds stream in."""
        if self.job.running:
            return
        try:
            if self._budgeted:
                fresh = _FreshLedgers(self.current_settings(), float(self.budget.value),
                                      self.settings.delta)
                hit = self.stage(ledgers=fresh).load(self.cache)
                # a new run starts every hospital's budget afresh, so runs can be compared
                fed = None if hit is not None else self.stage(ledgers=self._ledgers(reset=True))
            else:
                fed = self.stage()
                hit = fed.load(self.cache)
            if hit is not None:
                self._show_result(hit, cached=True)
                return
        except Exception as exc:
            self.messages.show_error(exc)
            return
        self._rounds_seen = []
        with self.figure.batch_update():
            for trace in self.figure.data:
                trace.x, trace.y = [], []
        self._set_running(True)
        self.status.value = "training…"

        def on_item(p: Progress) -> None:
            if isinstance(p.partial, RoundRecord):
                self._show_round(p.partial)
            elif isinstance(p.partial, FederationResult):
                self._show_result(p.partial)

        self.job.start(lambda stop: fed.run(cache=self.cache, stop=stop), on_item=on_item,
                       on_error=self.messages.show_error,
                       on_done=self._finished, wait=wait)

    def compare(self, *, wait: bool = True) -> None:
        """Train (or read) centralised training on all hospitals' X-rays and each alone."""
        if self.job.running:
            return
        try:
            fed = self.stage()
            stages = baseline_stages(self.current_settings(), fed.hospitals, fed._data[1])
        except Exception as exc:
            self.messages.show_error(exc)
            return
        self._set_running(True)
        self.progress.max, self.progress.value = len(stages), 0

        def make(stop):
            for name, stage in stages.items():
                if stop.requested:
                    return
                self.status.value = f"training {html.escape(name)}…"
                last = None
                for last in stage.run(cache=self.cache, stop=stop):
                    pass
                if last is not None and not last.stopped:
                    yield name, last.partial

        def on_item(item) -> None:
            name, result = item
            self.baselines[name] = result
            self.progress.value += 1
            self.status.value = f"{html.escape(name)}: test AUC {result.test_metrics['auc']:.3f}"
            if len(self.baselines) == len(stages):
                self._show_comparison()

        self.job.start(make, on_item=on_item, on_error=self.messages.show_error,
                       on_done=self._finished, wait=wait)

    def attack(self, *, wait: bool = True) -> None:
        """Gradient inversion on one hospital's plain update and on the secure sum of all."""
        if self.job.running:
            return
        try:
            stages = self._attack_stages()
        except Exception as exc:
            self.messages.show_error(exc)
            return
        self._set_running(True)
        self.attack_text.value = "<i>attacking…</i>"

        def make(stop):
            for k, stage in stages.items():
                last = None
                for last in stage.run(cache=self.cache, stop=stop):
                    self.status.value = html.escape(last.message)
                if last is None or last.stopped:
                    return
                yield k, last.partial

        def on_item(item) -> None:
            k, result = item
            self.leakage[k] = result
            self._show_attack()

        self.job.start(make, on_item=on_item, on_error=self.messages.show_error,
                       on_done=self._finished, wait=wait)

    def _attack_stages(self) -> dict[int, AggregateLeakage]:
        """{1: the attack on one hospital's update, n: on the secure sum of all n}."""
        test = self.stage()._data[1]
        n = len(self.settings.sites)
        return {k: AggregateLeakage(n_sites=k, size=self.settings.size,
                                    iterations=self.attack_iterations, seed=self.settings.seed,
                                    images=test.images[: n], labels=test.labels[: n])
                for k in (1, n)}

    def seconds_left(self) -> dict[str, float]:
        """Seconds each button would take on this machine now, for the controls' settings:
        ``{'train': …, 'compare': …, 'attack': …}`` (0 where the cache has the result)."""
        fed = self._train_stage()
        compare = baseline_stages(self.current_settings(), fed.hospitals, fed._data[1])
        return {"train": fed.seconds_left(self.cache),
                "compare": sum(st.seconds_left(self.cache) for st in compare.values()),
                "attack": sum(st.seconds_left(self.cache)
                              for st in self._attack_stages().values())}

    def _show_costs(self) -> None:
        try:
            left = self.seconds_left()
        except Exception as exc:  # shown in place; the lab keeps working
            self.messages.show_error(exc)
            return

        def cost(seconds: float) -> str:
            return "ready" if seconds <= 0 else f"about {human_seconds(max(seconds, 1.0))}"

        self.costs.value = (f"<small>On this machine now — Train: {cost(left['train'])} · "
                            f"Compare with centralised: {cost(left['compare'])} · Attack: "
                            f"{cost(left['attack'])}. Each runs when you press it, with a "
                            f"progress bar and Stop.</small>")

    def _show_attack(self) -> None:
        boxes, texts = [], []
        for k in sorted(self.leakage):
            res = self.leakage[k]
            texts.append(leakage_statement(n_sites=k, psnr=res.psnr, verdict=res.verdict).text)
            pics = []
            for i in range(res.truth.shape[0]):
                row = []
                for img in (res.truth[i], res.reconstruction[i]):
                    w = W.Image(value=to_png(img), format="png",
                                layout=W.Layout(width="84px", height="84px"))
                    w.add_class(PIXELATED_CLASS)
                    row.append(w)
                pics.append(W.VBox(row))
            label = "one hospital's plain update" if k == 1 else f"secure sum of {k} hospitals"
            box = W.VBox([W.HTML(f"<small><b>{html.escape(label)}</b>: top real, bottom rebuilt "
                                 f"(PSNR {res.psnr:.1f} dB)</small>"), W.HBox(pics)])
            box.add_class(f"medpriv-federated-recon-{k}")
            boxes.append(box)
        self.attack_images.children = boxes
        self.attack_text.value = "<br>".join(html.escape(t) for t in texts)

    def stop(self) -> None:
        """Ask the running job to stop after the current hospital's local training."""
        self.job.stop()
        self.status.value = "stopping after this hospital…"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class _FreshLedgers(dict):
    """Stand-ins for ledgers just reset to ``epsilon``: the cache key of a run on fresh budgets
    (without touching the files on disk)."""

    def __init__(self, settings: FederationSettings, epsilon: float, delta: float) -> None:
        super().__init__({n: _FreshLedger(epsilon, delta) for n in settings.site_names})


class _FreshLedger:
    def __init__(self, epsilon: float, delta: float) -> None:
        self.budget = (epsilon, delta)
        self.locked = False

    def spent(self):
        return (0.0, 0.0)
