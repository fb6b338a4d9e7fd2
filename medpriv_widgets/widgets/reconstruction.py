"""ReconstructionLab: watch a shared update turn back into the child's X-ray — and DP stop it.

The widget holds no mathematics. An attack is
:func:`~medpriv_widgets.experiments.reconstruction.attack_records` (victim of the round, the
hospital's defended update, the server's attack), driven through a :class:`BackgroundJob`; the
σ sweep is the cached :class:`~medpriv_widgets.experiments.reconstruction.ReconstructionSweep`
stage; bounds come from the core and sentences from :mod:`medpriv_widgets.explain`.

Layout: controls in a fixed-width column on the left, pictures and the PSNR curve on the right
(the two wrap below each other in a narrow notebook). Every X-ray is drawn at a fixed square
size with ``object-fit: contain``, so it keeps its aspect ratio at every batch size. CSS
classes ``medpriv-recon-<part>`` are for the browser tests.
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as W
import plotly.graph_objects as go
import torch

from .._validate import check_choice, check_int, check_open_unit
from ..attacks.reconstruction import (ATTACKS, DEFAULT_BINS, PSNR_RECOGNISABLE_DB,
                                      SSIM_RECOGNISABLE, Defense, default_sigmas, make_scorer,
                                      one_update_bound, run_epsilon, score_images, select_batch,
                                      suggested_iterations, verdict)
from ..attacks.reconstruction.victim import ARCHITECTURES, STATES
from ..device import choose_device, device_label
from ..errors import InvalidParameterError
from ..experiments.reconstruction import (SERVERS, ReconstructionSweep, attack_records,
                                          victim_stage)
from ..experiments.stage import human_seconds
from ..explain import format_sigma, format_sigmas, one_update_statement, run_epsilon_text
from ._common import BackgroundJob, MessageArea
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png
from .plotting import FigureWidget

DEFENSES = {
    "none": "No defense (plain FedSGD)",
    "clip": "Clipping only (per-example, norm C)",
    "dp": "DP-SGD step: clipping + Gaussian noise σ·C",
    "topk": "Gradient pruning (send only the largest entries)",
    "fedavg": "FedAvg: several local steps before sending",
}
HONEST_ATTACKS = {"inverting_gradients": "Inverting Gradients (cosine + TV)",
                  "dlg": "DLG (L2 distance)",
                  "linear_head": "Linear-head inversion (analytic; one X-ray)"}
#: Largest batch the honest server's optimisation attack is offered (cost grows with B).
MAX_HONEST_BATCH = 8
#: Largest batch offered against the malicious server (one update, read off in milliseconds).
MAX_MALICIOUS_BATCH = 64
CSS = (PIXELATED_CSS + "<style>.medpriv-recon-img img, img.medpriv-recon-img"
       "{object-fit:contain;}.medpriv-recon-stale{opacity:0.45;}</style>")


def image_px(batch: int) -> int:
    """Side in pixels at which each X-ray of a batch of ``batch`` is drawn."""
    return 180 if batch == 1 else 96 if batch <= 4 else 64 if batch <= 16 else 40


class ReconstructionLab:
    """X-ray gallery → server, victim, defense → Attack: the reconstruction appears frame by
    frame beside the original, with its PSNR curve.

    Parameters
    ----------
    size : 28, 64 or 128 px (when ``data`` is not given).
    split : split the X-rays come from (default 'test': X-rays no model was trained on).
    data : a ChestXrayData to choose from (default: ``load_dataset(size=size, split=split)``).
        The σ sweep names X-rays by (size, split, index), so it needs the default data.
    public : the server's own X-rays (prior and imprint bins; default: the 'train' split).
    n_gallery : number of X-rays offered in the gallery.
    server : 'honest' or 'malicious'. arch, state : the honest server's model (see
        ``ARCHITECTURES``, ``STATES``; a trained classifier is trained once and cached).
    defense : one of ``DEFENSES`` (initial choice).
    sigma, clip_norm, batch_size, topk_fraction, local_steps : initial control values.
    attack : an honest attack (``HONEST_ATTACKS``). iterations : per attack (default: by device).
    image_index : the gallery X-ray selected at start. seed : noise, starts, victim weights.
    informed : the server knows the average X-ray. bins : imprint bins of the malicious model.
    kappa : the attacker's chance without the update, for the bound shown beside DP noise.
    cache : a ResultStore (default: :func:`medpriv_widgets.cache.default_store`).
    """

    def __init__(self, *, size: int = 64, split: str = "test", data=None, public=None,
                 n_gallery: int = 8, server: str = "honest", arch: str = "lenet",
                 state: str = "untrained", defense: str = "none", sigma: float = 0.01,
                 clip_norm: float = 1.0, batch_size: int = 1, topk_fraction: float = 0.1,
                 local_steps: int = 2, attack: str = "inverting_gradients",
                 iterations: int | None = None, image_index: int = 0, seed: int = 0,
                 informed: bool = True, bins: int = DEFAULT_BINS, kappa: float = 0.001,
                 cache=None) -> None:
        from ..cache import default_store
        from ..data import SyntheticDataWarning, load_dataset

        check_choice("defense", defense, DEFENSES)
        check_choice("attack", attack, HONEST_ATTACKS)
        check_choice("server", server, SERVERS)
        check_choice("arch", arch, ARCHITECTURES)
        check_choice("state", state, STATES)
        self.device = choose_device()
        self.iterations = check_int("iterations", suggested_iterations(self.device)
                                    if iterations is None else iterations, low=1, high=20_000)
        self.seed = check_int("seed", seed, low=0)
        self.bins = check_int("bins", bins, low=2, high=4096)
        self.kappa = check_open_unit("kappa", kappa)
        n_gallery = check_int("n_gallery", n_gallery, low=1, high=32)
        self.cache = default_store() if cache is None else cache
        with warnings.catch_warnings():
            # synthetic data is announced in the lab's own device line, not as a warning
            warnings.simplefilter("ignore", SyntheticDataWarning)
            self.by_reference = data is None
            self.data = load_dataset(size=size, split=split) if data is None else data
            self.public = (load_dataset(size=self.data.size, split="train" if self.data.split
                                        != "train" else "test")
                           if public is None else public)
        self.n_gallery = min(n_gallery, len(self.data))
        self.job = BackgroundJob()
        self.last_frame = None
        self.last_sweep = None
        self.psnr_history: list[tuple[int, float]] = []
        self._failed = False
        self._build(server, arch, state, defense, sigma, clip_norm, batch_size, topk_fraction,
                    local_steps, attack, informed, image_index)

    # ------------------------------------------------------------------ layout
    def _build(self, server, arch, state, defense, sigma, clip_norm, batch_size, topk_fraction,
               local_steps, attack, informed, image_index) -> None:
        names = {0: "normal", 1: "pneumonia"}
        style = {"description_width": "110px"}
        wide = W.Layout(width="400px")
        self.thumbs = W.Box([W.VBox([
            _image(self.data.images[i], 48), W.HTML(f"<small>#{i}</small>")],
            layout=W.Layout(align_items="center"))
            for i in range(self.n_gallery)], layout=W.Layout(flex_flow="row wrap", width="400px"))
        self.image_select = W.Dropdown(
            options=[(f"X-ray #{i} ({names.get(int(self.data.labels[i]), '?')})", i)
                     for i in range(self.n_gallery)],
            value=min(max(0, image_index), self.n_gallery - 1), description="X-ray",
            style=style, layout=wide)
        self.server_select = W.ToggleButtons(
            options=[("Honest server", "honest"), ("Malicious server", "malicious")],
            value=server, style={"button_width": "150px"})
        self.arch_select = W.Dropdown(options=[(v, k) for k, v in ARCHITECTURES.items()],
                                      value=arch, description="Model", style=style, layout=wide)
        self.state_select = W.Dropdown(options=[(v, k) for k, v in STATES.items()],
                                       value=state, description="Training", style=style,
                                       layout=wide)
        self.defense_select = W.Dropdown(options=[(v, k) for k, v in DEFENSES.items()],
                                         value=defense, description="Defense", style=style,
                                         layout=wide)
        self.sigma_slider = W.FloatLogSlider(value=sigma, base=10, min=-5, max=1, step=0.25,
                                             description="noise σ", readout_format=".1e",
                                             style=style, layout=wide)
        self.clip_slider = W.FloatLogSlider(value=clip_norm, base=10, min=-3, max=1, step=0.25,
                                            description="clip norm C", style=style, layout=wide)
        self.batch_slider = W.IntSlider(value=batch_size, min=1,
                                        max=self._max_batch(server), description="batch size B",
                                        style=style, layout=wide)
        self.topk_slider = W.FloatSlider(value=topk_fraction, min=0.01, max=1.0, step=0.01,
                                         description="top-k kept", readout_format=".0%",
                                         style=style, layout=wide)
        self.steps_slider = W.IntSlider(value=local_steps, min=1, max=10,
                                        description="local steps", style=style, layout=wide)
        self.attack_select = W.Dropdown(options=[(v, k) for k, v in HONEST_ATTACKS.items()],
                                        value=attack, description="Attack", style=style,
                                        layout=wide)
        self.informed_box = W.Checkbox(value=informed, indent=False,
                                       description="server knows the average X-ray")
        self.attack_button = W.Button(description="Attack", button_style="danger", icon="bolt",
                                      layout=W.Layout(width="110px"))
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True,
                                    layout=W.Layout(width="110px"))
        self.sweep_button = W.Button(description="σ sweep", icon="th",
                                     layout=W.Layout(width="110px"))
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=wide)
        self.status_html = W.HTML(layout=wide)
        self.bound_html = W.HTML(layout=wide)
        self.device_html = W.HTML(layout=wide)
        self.messages = MessageArea()
        self.original = W.Box(layout=W.Layout(flex_flow="row wrap", max_width="560px"))
        self.rebuilt = W.Box(layout=W.Layout(flex_flow="row wrap", max_width="560px"))
        self.score_html = W.HTML()
        self.figure = FigureWidget(
            data=[go.Scatter(x=[], y=[], mode="lines+markers", name="PSNR")],
            layout=go.Layout(height=260, width=440, margin=dict(l=50, r=10, t=36, b=40),
                             title=dict(text="Reconstruction quality", font=dict(size=14)),
                             xaxis_title="attack iteration", yaxis_title="PSNR (dB)",
                             yaxis_range=[0, 45], showlegend=False))
        self.figure.add_hline(y=PSNR_RECOGNISABLE_DB, line_dash="dot",
                              annotation_text=f"recognisable (with SSIM ≥ {SSIM_RECOGNISABLE})",
                              annotation_position="bottom right")
        self.curve_box = W.Box([self.figure])  # hidden for the analytic imprint attack
        self.strip_caption = W.HTML()
        self.strip = W.Box(layout=W.Layout(flex_flow="row wrap"))
        for w in (self.image_select, self.server_select, self.arch_select, self.state_select,
                  self.defense_select, self.sigma_slider, self.clip_slider, self.batch_slider,
                  self.topk_slider, self.steps_slider, self.attack_select, self.informed_box):
            w.observe(self._on_settings, names="value")
        self.attack_button.on_click(lambda _: self._safe(self.run, wait=False))
        self.stop_button.on_click(lambda _: self.stop())
        self.sweep_button.on_click(lambda _: self._safe(self.sweep, wait=False))
        controls = W.VBox([
            self.server_select, self.thumbs, self.image_select, self.arch_select,
            self.state_select, self.batch_slider, self.defense_select, self.sigma_slider,
            self.clip_slider, self.topk_slider, self.steps_slider, self.attack_select,
            self.informed_box,
            W.HBox([self.attack_button, self.stop_button, self.sweep_button]),
            self.progress, self.status_html, self.bound_html, self.device_html],
            layout=W.Layout(width="420px", flex="0 0 420px", overflow="hidden"))
        self.pictures = W.VBox([
            W.HTML("<b>What the hospital has</b> (never sent)"), self.original,
            W.HTML("<b>What the server rebuilds from the update</b>"), self.rebuilt,
            self.score_html, self.curve_box],
            layout=W.Layout(flex="1 1 460px", min_width="0"))
        self.widget = W.VBox([W.HTML(CSS), self.messages,
                              W.Box([controls, self.pictures],
                                    layout=W.Layout(flex_flow="row wrap", align_items="flex-start")),
                              self.strip_caption, self.strip])
        for part, w in (("server", self.server_select), ("xray", self.image_select),
                        ("victim", self.arch_select), ("state", self.state_select),
                        ("batch", self.batch_slider), ("defense", self.defense_select),
                        ("sigma", self.sigma_slider), ("clip", self.clip_slider),
                        ("attack", self.attack_select), ("informed", self.informed_box),
                        ("run", self.attack_button), ("stop", self.stop_button),
                        ("sweep", self.sweep_button), ("progress", self.progress),
                        ("status", self.status_html), ("bound", self.bound_html),
                        ("device", self.device_html), ("original", self.original),
                        ("rebuilt", self.rebuilt), ("score", self.score_html),
                        ("curve", self.figure), ("strip", self.strip),
                        ("strip-caption", self.strip_caption), ("controls", controls),
                        ("pictures", self.pictures)):
            w.add_class(f"medpriv-recon-{part}")
        self.widget.add_class("medpriv-recon")
        self.messages.add_class("medpriv-message")
        self._on_settings()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

    def _max_batch(self, server: str) -> int:
        limit = MAX_MALICIOUS_BATCH if server == "malicious" else MAX_HONEST_BATCH
        return max(1, min(limit, len(self.data), self.bins))

    # ------------------------------------------------------------------ state → core
    def _safe(self, fn, **kw):
        try:
            fn(**kw)
        except Exception as exc:  # shown in place; the widget stays usable
            self.messages.show_error(exc)
            self._set_running(False)

    def defense(self) -> Defense:
        """The Defense the controls describe."""
        kind = self.defense_select.value
        if kind == "clip":
            return Defense(clip_norm=self.clip_slider.value)
        if kind == "dp":
            return Defense(clip_norm=self.clip_slider.value,
                           noise_multiplier=self.sigma_slider.value)
        if kind == "topk":
            return Defense(topk_fraction=self.topk_slider.value)
        if kind == "fedavg":
            return Defense(local_steps=self.steps_slider.value)
        return Defense()

    def attack(self) -> str:
        """The attack of the chosen server."""
        return "imprint" if self.server_select.value == "malicious" else self.attack_select.value

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The client's batch: the chosen X-ray and the next B − 1 ones."""
        return select_batch(self.data.images, self.data.labels,
                            batch_size=self.batch_slider.value, index=self.image_select.value)

    def settings_text(self) -> str:
        """The current settings in a few words (captions, status)."""
        b = self.batch_slider.value
        who = (f"X-ray #{self.image_select.value}" if b == 1
               else f"{b} X-rays from #{self.image_select.value}")
        if self.server_select.value == "malicious":
            victim = f"imprint module ({self.bins} bins)"
        else:
            victim = f"{ARCHITECTURES[self.arch_select.value]}, {STATES[self.state_select.value]}"
        return f"{who}; {victim}; {ATTACKS[self.attack()].title}; {self.defense().describe()}"

    def _on_settings(self, change=None) -> None:
        malicious = self.server_select.value == "malicious"
        kind = self.defense_select.value
        classifier = self.arch_select.value == "classifier"
        if not classifier and self.state_select.value != "untrained":
            self.state_select.value = "untrained"  # shown in the dropdown: only it is trained
            return  # the change above calls this again
        self.state_select.disabled = not classifier
        self.arch_select.description = "Hidden model" if malicious else "Model"
        self.attack_select.disabled = malicious
        self.curve_box.layout.display = "none" if malicious else None
        self.informed_box.disabled = malicious
        self.sigma_slider.disabled = kind != "dp"
        self.clip_slider.disabled = kind not in ("clip", "dp")
        self.topk_slider.disabled = kind != "topk"
        self.steps_slider.disabled = kind != "fedavg"
        limit = self._max_batch(self.server_select.value)
        if self.batch_slider.max != limit:
            self.batch_slider.value = min(self.batch_slider.value, limit)
            self.batch_slider.max = limit
        dev = device_label(self.device)
        self.device_html.value = (f"<small>Computing on {html.escape(dev)}."
                                  + (" <b>SYNTHETIC phantoms</b> (no real X-rays found)."
                                     if self.data.synthetic else "") + "</small>")
        try:
            images, _ = self.batch()
            self._draw(self.original, images)
            self._show_bound(kind)
            self.messages.clear()
        except Exception as exc:
            self.messages.show_error(exc)
        self._mark_stale()

    def _show_bound(self, kind: str) -> None:
        if kind == "dp":
            sigma = self.sigma_slider.value
            bound = one_update_bound(noise_multiplier=sigma, kappa=self.kappa)
            eps = run_epsilon(noise_multiplier=sigma)
            self.bound_html.value = (
                f"<small>{html.escape(str(one_update_statement(sigma=sigma, kappa=self.kappa, bound=bound)))}"
                f" A whole DP-SGD run with this σ (1,000 steps, 1 % sampling, δ = 1e-5) would "
                f"have ε = {html.escape(run_epsilon_text(eps))}.</small>")
        else:
            self.bound_html.value = ("<small>No formal guarantee: without DP noise "
                                     "(clipping, pruning, FedAvg, batching) ε = ∞.</small>")

    def _mark_stale(self) -> None:
        """The drawn reconstruction and sweep belong to the settings they were made with."""
        now = self.settings_text()
        for box, made in ((self.rebuilt, getattr(self, "_rebuilt_for", None)),
                          (self.strip, getattr(self, "_strip_for", None))):
            stale = made is not None and made != now
            if stale:
                box.add_class("medpriv-recon-stale")
            else:
                box.remove_class("medpriv-recon-stale")
        made = getattr(self, "_strip_for", None)
        if made is not None and made != now:
            self.strip_caption.value = (f"<b>σ sweep of other settings</b> ({html.escape(made)}). "
                                        "Press σ sweep for the current ones.")
        elif made is not None:
            self.strip_caption.value = f"<b>σ sweep</b> of {html.escape(made)}"

    def _draw(self, box: W.Box, images: torch.Tensor, labels: list[str] | None = None) -> None:
        px = image_px(images.shape[0])
        cells = []
        for i in range(images.shape[0]):
            img = _image(images[i], px)
            cells.append(img if labels is None else W.VBox(
                [img, W.HTML(f"<small>{html.escape(labels[i])}</small>")],
                layout=W.Layout(align_items="center", flex="0 0 auto")))
        box.children = cells

    def _set_running(self, running: bool) -> None:
        self.attack_button.disabled = running
        self.sweep_button.disabled = running
        self.stop_button.disabled = not running

    # ------------------------------------------------------------------ actions
    def run(self, *, wait: bool = True) -> None:
        """Attack with the current settings; ``wait=True`` blocks until done (notebooks, tests)."""
        if self.job.running:
            return
        images, labels = self.batch()
        records = attack_records(
            images=images, labels=labels, arch=self.arch_select.value,
            state=self.state_select.value, server=self.server_select.value,
            defense=self.defense(), attack=self.attack(), iterations=self.iterations,
            seed=self.seed, public_images=self.public.images,
            informed=self.informed_box.value, bins=self.bins, cache=self.cache,
            device=self.device, score=make_scorer(images))
        records.close()  # checked; the job builds its own generator with its stop token
        self.psnr_history = []
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = [], []
        self.progress.value = 0.0
        self._truth = images
        self._rebuilt_for = self.settings_text()
        self.rebuilt.children = []
        self.score_html.value = ""
        stage = victim_stage(arch=self.arch_select.value, state=self.state_select.value,
                             size=self.data.size, seed=self.seed)
        first = ("" if stage is None or stage.is_done(self.cache) else
                 f" The model is trained first (about {human_seconds(stage.estimate_seconds())}"
                 f"; once, then cached).")
        self.messages.show(f"Attacking: {self.settings_text()}.{first}", kind="info")
        self._set_running(True)
        self._failed = False
        self._mark_stale()

        def make(stop):
            return attack_records(
                images=images, labels=labels, arch=self.arch_select.value,
                state=self.state_select.value, server=self.server_select.value,
                defense=self.defense(), attack=self.attack(), iterations=self.iterations,
                seed=self.seed, public_images=self.public.images,
                informed=self.informed_box.value, bins=self.bins, cache=self.cache,
                device=self.device, stop=stop, score=make_scorer(images))

        self.job.start(make, on_item=self._on_record, on_done=self._on_done,
                       on_error=self._on_error, wait=wait)

    def _on_record(self, record) -> None:
        self.progress.value = record.fraction
        self.status_html.value = f"<small>{html.escape(record.stage)}: {html.escape(record.message)}</small>"
        frame = record.partial
        if frame is None or not hasattr(frame, "image"):
            return
        self.last_frame = frame
        scores = score_images(frame.image, self._truth)
        matched = frame.image[list(scores.match)]
        self._draw(self.rebuilt, matched,
                   None if matched.shape[0] > 16 else [f"{p:.0f} dB" for p in scores.psnr])
        self.score_html.value = (
            f"PSNR <b>{frame.psnr:.1f} dB</b>, SSIM {frame.ssim:.2f} — "
            f"<b>{verdict(frame.psnr, frame.ssim)}</b>"
            + (f"; {sum(p >= 30 for p in scores.psnr)} of {len(scores.psnr)} X-rays at ≥ 30 dB"
               if len(scores.psnr) > 1 else ""))
        if frame.iteration > 0:
            self.psnr_history.append((frame.iteration, frame.psnr))
            xs, ys = zip(*self.psnr_history)
            with self.figure.batch_update():
                self.figure.data[0].x, self.figure.data[0].y = list(xs), list(ys)

    def _on_done(self, stopped: bool) -> None:
        self._set_running(False)
        f = self.last_frame
        if f is not None and not self._failed:
            how = "Stopped" if stopped else "Done"
            when = f" after {f.iteration} iterations" if f.iteration else ""
            if f.image.shape[0] > 1:
                each = score_images(f.image, self._truth).psnr
                what = (f"{sum(p >= 30 for p in each)} of {len(each)} X-rays rebuilt at ≥ 30 dB "
                        f"(mean PSNR {f.psnr:.1f} dB)")
            else:
                what = f"PSNR {f.psnr:.1f} dB, {verdict(f.psnr, f.ssim)}"
            self.messages.show(f"{how}{when}: {what}.", kind="success")
        elif stopped and not self._failed:
            self.messages.show("Stopped before the attack started.", kind="info")

    def _on_error(self, exc: BaseException) -> None:
        self._failed = True
        self.messages.show_error(exc)

    def stop(self) -> None:
        """Ask the running attack or sweep to stop at its next frame."""
        self.job.stop()

    def sweep_stage(self, *, sigmas=None, iterations: int | None = None) -> ReconstructionSweep:
        """The ReconstructionSweep of the current settings (X-ray by data reference)."""
        if not self.by_reference:
            raise InvalidParameterError(
                "The σ sweep names X-rays by (size, split, index) and caches them that way, so "
                "it needs the lab's own data: create the lab without `data=`.")
        clip = self.clip_slider.value
        return ReconstructionSweep(
            size=self.data.size, split=self.data.split, index=self.image_select.value,
            sigmas=tuple(default_sigmas(5) if sigmas is None else sigmas),
            iterations=self.iterations if iterations is None else iterations, seed=self.seed,
            arch=self.arch_select.value, state=self.state_select.value, attack=self.attack(),
            clip_norm=clip, batch_size=self.batch_slider.value,
            informed=self.informed_box.value, bins=self.bins)

    def sweep(self, *, sigmas=None, iterations: int | None = None, wait: bool = True) -> None:
        """Attack once per σ (clip C from the slider; cached) and show the strip of results."""
        if self.job.running:
            return
        stage = self.sweep_stage(sigmas=sigmas, iterations=iterations)
        left = stage.seconds_left(self.cache)
        self.messages.show(
            f"σ sweep over {format_sigmas(stage.sigmas)}: "
            + ("read from the cache." if left == 0 else f"about {human_seconds(left)}."),
            kind="info")
        self._set_running(True)
        self._failed = False
        self._sweep_for = self.settings_text()

        def make(stop):
            return stage.run(cache=self.cache, stop=stop, device=self.device)

        self.job.start(make, on_item=self._on_sweep_record,
                       on_done=lambda s: self._set_running(False), on_error=self._on_error,
                       wait=wait)

    def _on_sweep_record(self, record) -> None:
        self.progress.value = record.fraction
        self.status_html.value = f"<small>{html.escape(record.message)}</small>"
        result = record.partial
        if record.finished and result is not None and hasattr(result, "sigmas"):
            self._show_sweep(result)
        elif record.stopped:
            self.messages.show("σ sweep stopped; nothing was cached.", kind="info")

    def _show_sweep(self, result) -> None:
        self.last_sweep = result
        cells = []
        for s, p, q, img in zip(result.sigmas, result.psnr, result.ssim, result.images):
            px = 110 if img.shape[0] == 1 else image_px(img.shape[0]) // 2
            grid = W.Box([_image(img[i], px) for i in range(img.shape[0])],
                         layout=W.Layout(flex_flow="row wrap", width=f"{max(px, 110) + 4}px"))
            cells.append(W.VBox([grid, W.HTML(
                f"<small>σ = {format_sigma(s)}<br>PSNR {p:.1f} dB<br>{verdict(p, q)}</small>")],
                layout=W.Layout(margin="0 8px 8px 0", flex="0 0 auto")))
        self.strip.children = cells
        self._strip_for = self._sweep_for
        self._mark_stale()
        self.messages.show("σ sweep done" + ("" if result.complete else " (stopped early)")
                           + ".", kind="success")


def _image(image: torch.Tensor, px: int) -> W.Image:
    """One X-ray drawn at px × px, aspect ratio kept, pixels sharp."""
    img = W.Image(value=to_png(image), format="png",
                  layout=W.Layout(width=f"{px}px", height=f"{px}px", object_fit="contain",
                                  flex="0 0 auto", margin="1px"))
    img.add_class(PIXELATED_CLASS)
    img.add_class("medpriv-recon-img")
    return img
