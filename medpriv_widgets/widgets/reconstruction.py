"""ReconstructionLab: watch a shared gradient turn back into the child's X-ray — and DP stop it.

The widget holds no mathematics. It builds the client's update with
:func:`~medpriv_widgets.attacks.reconstruction.client_update`, drives the
:func:`~medpriv_widgets.attacks.reconstruction.reconstruct` generator through a
:class:`BackgroundJob`, and draws its frames; the sweep calls
:func:`~medpriv_widgets.attacks.reconstruction.reconstruction_sweep` (cached).
"""

from __future__ import annotations

import math

import ipywidgets as W
import plotly.graph_objects as go
import torch

from ..attacks.reconstruction import (ATTACKS, Defense, client_update, default_sigmas,
                                      make_scorer, make_victim_model, reconstruct,
                                      reconstruction_sweep, run_epsilon, select_batch, verdict)
from ..attacks.reconstruction.metrics import PSNR_RECOGNISABLE_DB, SSIM_RECOGNISABLE
from .._validate import check_choice, check_int
from ..device import choose_device, device_label
from ..errors import InvalidParameterError
from ._common import BackgroundJob, MessageArea
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png

DEFENSES = {
    "none": "No defense (plain FedSGD)",
    "clip": "Clipping only (per-example, norm C)",
    "dp": "DP-SGD step: clipping + Gaussian noise σ·C",
    "topk": "Gradient pruning (send only the largest entries)",
    "fedavg": "FedAvg: several local steps before sending",
}


def _tile(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) → one (H, B·W + gaps) strip for display."""
    b, _, h, w = images.shape
    gap = torch.ones(h, 2)
    parts = []
    for i in range(b):
        parts += [images[i, 0].clamp(0, 1), gap]
    return torch.cat(parts[:-1], dim=1)


class ReconstructionLab:
    """Gallery → defense → Attack: the reconstruction appears frame by frame with its PSNR curve.

    Parameters
    ----------
    size : 28, 64 or 128 px.
    data : a ChestXrayData to choose from (default: ``load_dataset(size=size, split="test")``).
    n_gallery : number of X-rays offered in the gallery.
    model_kind, trained_steps : the server's model (see ``make_victim_model``).
    defense : one of 'none', 'clip', 'dp', 'topk', 'fedavg' (initial choice).
    sigma, clip_norm, batch_size, topk_fraction, local_steps : initial slider values.
    attack : 'inverting_gradients' or 'dlg'. iterations : L-BFGS iterations per attack.
    image_index : the gallery X-ray selected at start. seed : noise and starting images.
    """

    def __init__(self, *, size: int = 64, data=None, n_gallery: int = 8, model_kind: str = "lenet",
                 trained_steps: int = 0, defense: str = "none", sigma: float = 0.01,
                 clip_norm: float = 1.0, batch_size: int = 1, topk_fraction: float = 0.1,
                 local_steps: int = 2, attack: str = "inverting_gradients", iterations: int = 200,
                 image_index: int = 0, seed: int = 0) -> None:
        check_choice("defense", defense, DEFENSES)
        check_choice("attack", attack, ATTACKS)
        self.iterations = check_int("iterations", iterations, low=1, high=5000)
        self.seed = check_int("seed", seed, low=0)
        n_gallery = check_int("n_gallery", n_gallery, low=1, high=32)
        if data is None:
            from ..data import load_dataset
            data = load_dataset(size=size, split="test")
        self.data = data
        self.n_gallery = min(n_gallery, len(data))
        self._model_kind, self._trained_steps = model_kind, trained_steps
        self._failed = False
        self.model = make_victim_model(size=data.size, arch=model_kind, seed=seed)
        self.device = choose_device()
        self.job = BackgroundJob()
        self.last_frame = None
        self.last_sweep = None
        self.psnr_history: list[tuple[int, float]] = []
        self._build(defense, sigma, clip_norm, batch_size, topk_fraction, local_steps, attack,
                    image_index)

    # ------------------------------------------------------------------ layout
    def _build(self, defense, sigma, clip_norm, batch_size, topk_fraction, local_steps, attack,
               image_index) -> None:
        px = "180px"
        names = {0: "normal", 1: "pneumonia"}
        self.thumbs = W.HBox([W.VBox([
            W.Image(value=to_png(self.data.images[i]), format="png",
                    layout=W.Layout(width="56px", height="56px")).add_class(PIXELATED_CLASS),
            W.HTML(f"<small>#{i}</small>")]) for i in range(self.n_gallery)])
        self.image_select = W.Dropdown(
            options=[(f"X-ray #{i} ({names.get(int(self.data.labels[i]), '?')})", i)
                     for i in range(self.n_gallery)],
            value=min(max(0, image_index), self.n_gallery - 1), description="X-ray")
        self.defense_select = W.Dropdown(options=[(v, k) for k, v in DEFENSES.items()],
                                         value=defense, description="Defense",
                                         layout=W.Layout(width="420px"))
        style = {"description_width": "110px"}
        self.sigma_slider = W.FloatLogSlider(value=sigma, base=10, min=-5, max=0, step=0.25,
                                             description="noise σ", readout_format=".1e",
                                             style=style)
        self.clip_slider = W.FloatLogSlider(value=clip_norm, base=10, min=-3, max=1, step=0.25,
                                            description="clip norm C", style=style)
        self.batch_slider = W.IntSlider(value=batch_size, min=1, max=min(8, len(self.data)),
                                        description="batch size B", style=style)
        self.topk_slider = W.FloatSlider(value=topk_fraction, min=0.01, max=1.0, step=0.01,
                                         description="top-k kept", readout_format=".0%",
                                         style=style)
        self.steps_slider = W.IntSlider(value=local_steps, min=1, max=10,
                                        description="local steps", style=style)
        self.attack_select = W.Dropdown(
            options=[("Inverting Gradients (cosine + TV)", "inverting_gradients"),
                     ("DLG (L2 distance)", "dlg")], value=attack, description="Attack")
        self.attack_button = W.Button(description="Attack", button_style="danger", icon="bolt")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.sweep_button = W.Button(description="σ sweep", icon="th")
        self.progress = W.IntProgress(value=0, min=0, max=self.iterations, description="iterations")
        self.messages = MessageArea()
        self.epsilon_html = W.HTML()
        self.device_html = W.HTML(f"<b>Device:</b> {device_label(self.device)}"
                                  + (" — <b>SYNTHETIC phantoms</b>" if self.data.synthetic else ""))
        self.original = W.Image(format="png", layout=W.Layout(height=px)).add_class(PIXELATED_CLASS)
        self.recon = W.Image(format="png", layout=W.Layout(height=px)).add_class(PIXELATED_CLASS)
        self.score_html = W.HTML()
        self.figure = go.FigureWidget(
            data=[go.Scatter(x=[], y=[], mode="lines+markers", name="PSNR")],
            layout=go.Layout(height=260, width=420, margin=dict(l=50, r=10, t=40, b=40),
                             title=f"Reconstruction quality ({device_label(self.device)})",
                             xaxis_title="attack iteration", yaxis_title="PSNR (dB)",
                             yaxis_range=[0, 45]))
        self.figure.add_hline(
            y=PSNR_RECOGNISABLE_DB, line_dash="dot",
            annotation_text=f"recognisable from here (with SSIM ≥ {SSIM_RECOGNISABLE})")
        self.strip = W.HBox()
        for w in (self.image_select, self.defense_select, self.sigma_slider, self.clip_slider,
                  self.batch_slider):
            w.observe(self._on_settings, names="value")
        for w in (self.topk_slider, self.steps_slider):
            w.observe(self._on_settings, names="value")
        self.attack_button.on_click(lambda _: self._safe(self.run, wait=False))
        self.stop_button.on_click(lambda _: self.stop())
        self.sweep_button.on_click(lambda _: self._safe(self.sweep, wait=False))
        controls = W.VBox([self.thumbs, self.image_select, self.defense_select,
                           self.sigma_slider, self.clip_slider, self.batch_slider,
                           self.topk_slider, self.steps_slider, self.attack_select,
                           W.HBox([self.attack_button, self.stop_button, self.sweep_button]),
                           self.progress, self.epsilon_html, self.device_html])
        pictures = W.HBox([W.VBox([W.HTML("<b>What the hospital has</b>"), self.original]),
                           W.VBox([W.HTML("<b>What the server rebuilds from the update</b>"),
                                   self.recon, self.score_html])])
        self.widget = W.VBox([W.HTML(PIXELATED_CSS), self.messages,
                              W.HBox([controls, W.VBox([pictures, self.figure])]),
                              W.HTML("<b>σ sweep</b> (each image: the attack's final answer)"),
                              self.strip])
        self._on_settings()

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)

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

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The client's batch: the chosen X-ray and the next B − 1 ones."""
        return select_batch(self.data.images, self.data.labels,
                            batch_size=self.batch_slider.value, index=self.image_select.value)

    def _on_settings(self, change=None) -> None:
        kind = self.defense_select.value
        self.sigma_slider.disabled = kind != "dp"
        self.clip_slider.disabled = kind not in ("clip", "dp")
        self.topk_slider.disabled = kind != "topk"
        self.steps_slider.disabled = kind != "fedavg"
        try:
            images, _ = self.batch()
            self.original.value = to_png(_tile(images))
            if kind == "dp":
                eps = run_epsilon(noise_multiplier=self.sigma_slider.value)
                txt = "∞ (no guarantee)" if math.isinf(eps) else f"{eps:.3g}"
                self.epsilon_html.value = (
                    f"A whole DP-SGD run with σ = {self.sigma_slider.value:.2g} (1,000 steps, "
                    f"1 % sampling, δ = 1e-5) would have <b>ε = {txt}</b>.")
            else:
                self.epsilon_html.value = "No formal privacy guarantee (ε = ∞)."
            self.messages.clear()
        except ImportError:
            self.epsilon_html.value = "(ε accountant not available)"
        except Exception as exc:
            self.messages.show_error(exc)

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
        update = client_update(model=self.model, images=images, labels=labels,
                               defense=self.defense(), seed=self.seed)
        score = make_scorer(images)
        attack, iterations = self.attack_select.value, self.iterations
        self.psnr_history = []
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = [], []
        self.progress.value = 0
        self.messages.show(f"Attacking: {self.defense().describe()}, batch of {len(images)}.",
                           kind="info")
        self._set_running(True)
        self._failed = False

        def make(stop):
            return reconstruct(model=self.model, update=update, attack=attack,
                               iterations=iterations, frame_every=5, seed=self.seed,
                               device=self.device, stop=stop, score=score)

        self.job.start(make, on_item=self._on_frame, on_done=self._on_done,
                       on_error=self._on_error, wait=wait)

    def _on_frame(self, record) -> None:
        frame = record.partial
        self.last_frame = frame
        self.psnr_history.append((frame.iteration, frame.psnr))
        self.recon.value = to_png(_tile(frame.image))
        self.progress.value = min(frame.iteration, self.iterations)
        self.score_html.value = (f"PSNR <b>{frame.psnr:.1f} dB</b>, SSIM {frame.ssim:.2f} — "
                                 f"<b>{verdict(frame.psnr, frame.ssim)}</b>")
        xs, ys = zip(*self.psnr_history)
        with self.figure.batch_update():
            self.figure.data[0].x, self.figure.data[0].y = list(xs), list(ys)

    def _on_done(self, stopped: bool) -> None:
        self._set_running(False)
        f = self.last_frame
        if f is not None and not self._failed:
            how = "Stopped" if stopped else "Done"
            self.messages.show(f"{how} after {f.iteration} iterations: PSNR {f.psnr:.1f} dB, "
                               f"{verdict(f.psnr, f.ssim)}.", kind="success")

    def _on_error(self, exc: BaseException) -> None:
        self._failed = True
        self.messages.show_error(exc)

    def stop(self) -> None:
        """Ask the running attack or sweep to stop at its next frame."""
        self.job.stop()

    def sweep(self, *, sigmas=None, iterations: int | None = None, wait: bool = True) -> None:
        """Attack once per σ (clip C from the slider; cached) and show the strip of results."""
        if self.job.running:
            return
        sigmas = default_sigmas(5) if sigmas is None else list(sigmas)
        iterations = self.iterations if iterations is None else iterations
        images, labels = self.batch()
        clip = self.clip_slider.value
        if clip <= 0:
            raise InvalidParameterError(f"`clip_norm` must be > 0; got {clip}.")
        self.messages.show(f"Sweeping σ over {len(sigmas)} values (cached after the first "
                           f"time)…", kind="info")
        self._set_running(True)
        self._failed = False

        def make(stop):
            yield reconstruction_sweep(images=images, labels=labels, sigmas=sigmas,
                                       clip_norm=clip, attack=self.attack_select.value,
                                       iterations=iterations, seed=self.seed,
                                       device=str(self.device), stop=stop,
                                       model_kind=self._model_kind,
                                       trained_steps=self._trained_steps)

        self.job.start(make, on_item=self._on_sweep, on_done=lambda s: self._set_running(False),
                       on_error=self._on_error, wait=wait)

    def _on_sweep(self, result) -> None:
        self.last_sweep = result
        cells = []
        for s, p, q, img in zip(result.sigmas, result.psnr, result.ssim, result.images):
            cells.append(W.VBox([
                W.Image(value=to_png(_tile(img)), format="png",
                        layout=W.Layout(height="110px")).add_class(PIXELATED_CLASS),
                W.HTML(f"<small>σ = {s:.2g}<br>PSNR {p:.1f} dB<br>"
                       f"{verdict(p, q)}</small>")]))
        self.strip.children = cells
        self.messages.show("σ sweep done" + ("" if result.complete else " (stopped early)")
                           + ".", kind="success")
