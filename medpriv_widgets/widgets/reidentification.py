"""Lesson 01 lab: "an anonymous X-ray" → the five most similar X-rays of the archive, with the same
patient's highlighted.

A thin view over :mod:`medpriv_widgets.attacks.reidentification`: the network is the cached
:class:`~medpriv_widgets.attacks.reidentification.ReidTraining` stage (trained here with a progress
bar and Stop when it is not cached yet), the neighbours come from
:func:`~medpriv_widgets.attacks.reidentification.lookup`, the sentences from
:mod:`medpriv_widgets.explain.linkage`. Data without patient IDs is explained in place.
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
from IPython.display import display

from ..attacks.reidentification import (PACKHAEUSER_2022, ReidSettings, ReidTraining,
                                        anonymise_images, lookup)
from ..attacks.reidentification.data import ReidData, from_records
from ..attacks.reidentification.lookup import queries_with_a_partner
from ..cache import ResultStore
from ..errors import MedprivError
from ..experiments import human_seconds
from ..explain.linkage import xray_reidentification_statement
from ._common import BackgroundJob, MessageArea
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png

SAME = "3px solid #188038"
OTHER = "3px solid #dadce0"


class XrayLookupLab:
    """Pick an "anonymous" X-ray of a held-out patient; see the archive's most similar X-rays.

    Parameters
    ----------
    settings : ReidSettings of the network (cached by them).
    cache : ResultStore where the trained network lives (notebooks pass ``default_store()``).
    data : optional ChestXrayData or ReidData to use instead of loading ``settings.source``
        (a record without patient IDs is refused in place, with how to get them).
    k : neighbours shown. seed : which queries come up.
    """

    def __init__(self, *, settings: ReidSettings | None = None, cache: ResultStore | None = None,
                 data=None, k: int = 5, seed: int = 0) -> None:
        self.settings = settings or ReidSettings()
        self.cache = cache
        self.k = k
        self.rng = np.random.default_rng(seed)
        self.job = BackgroundJob()
        self.data: ReidData | None = None
        self.stage: ReidTraining | None = None
        self.result = None
        self.query: int | None = None

        self.train_button = W.Button(description="Train the network", icon="play",
                                     button_style="primary", disabled=True)
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.progress = W.FloatProgress(value=0, min=0, max=1, layout=W.Layout(width="240px"))
        self.next_button = W.Button(description="Another anonymous X-ray", icon="random",
                                    disabled=True, layout=W.Layout(width="220px"))
        self.anonymise = W.Checkbox(value=False, indent=False,
                                    description="anonymise it first (crop the borders, blur the "
                                                "corners)")
        self.message = MessageArea()
        self.query_box = W.VBox()
        self.matches = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.answer = W.HTML()
        self.summary = W.HTML()
        self.train_button.on_click(lambda _: self.train(wait=False))
        self.stop_button.on_click(lambda _: self.job.stop())
        self.next_button.on_click(lambda _: self.next_query())
        self.anonymise.observe(lambda _: self.show(), names="value")
        self.widget = W.VBox([
            W.HTML(PIXELATED_CSS),
            W.HBox([self.train_button, self.stop_button, self.progress]),
            W.HBox([self.next_button, self.anonymise]), self.message,
            W.HBox([self.query_box, W.HTML("<div style='width:24px'></div>"), self.matches]),
            self.answer, self.summary])
        self.widget.add_class("medpriv-reid")
        for w, name in ((self.train_button, "train"), (self.stop_button, "stop"),
                        (self.progress, "progress"), (self.next_button, "next"),
                        (self.anonymise, "anonymise"), (self.query_box, "query"),
                        (self.matches, "matches"), (self.answer, "answer"),
                        (self.summary, "summary")):
            w.add_class(f"medpriv-reid-{name}")
        self.message.add_class("medpriv-message")
        self._prepare(data)

    # ------------------------------------------------------------------ data and cache
    def _prepare(self, data) -> None:
        try:
            if data is None:
                self.data = ReidTraining(settings=self.settings).load_data()
            else:
                self.data = data if isinstance(data, ReidData) else from_records(data)
            self.stage = ReidTraining.for_data(self.settings, self.data)
        except MedprivError as exc:
            self.message.show_error(exc)
            return
        self.result = self.stage.load(self.cache)
        if self.result is None:
            self.train_button.disabled = False
            self.message.show(
                f"The network is not trained yet: press “Train the network” (about "
                f"{human_seconds(self.stage.estimate_seconds())} on this machine now).", kind="info")
        else:
            self.next_query()

    def train(self, *, wait: bool = True) -> None:
        """Train (or read from the cache) with a progress bar; then show a first X-ray."""
        if self.stage is None:
            return
        self.train_button.disabled = True
        self.stop_button.disabled = False

        def on_item(p):
            self.progress.value = p.fraction
            self.message.show(p.message, kind="warning" if p.stopped else "info")
            if p.finished:
                self.result = p.partial

        def on_done(stopped):
            self.stop_button.disabled = True
            if self.result is not None and not stopped:
                self.message.clear()
                self.next_query()
            else:
                self.train_button.disabled = False

        def on_error(exc):
            self.message.show_error(exc)
            self.train_button.disabled = False

        stage = self.stage
        self.job.start(lambda stop: stage.run(cache=self.cache, stop=stop), on_item=on_item, on_done=on_done, on_error=on_error, wait=wait)

    def run(self) -> "XrayLookupLab":
        """Train synchronously when needed (notebooks), then show an X-ray."""
        if self.result is None and self.stage is not None:
            self.train(wait=True)
        return self

    # ------------------------------------------------------------------ queries
    def next_query(self) -> None:
        if self.result is None:
            return
        candidates = queries_with_a_partner(self.result, self.data.patient_ids)
        if candidates.size == 0:
            self.message.show("No held-out patient has a second X-ray, so there is nobody to "
                              "find. Use more data.", kind="warning")
            return
        self.query = int(self.rng.choice(candidates))
        self.next_button.disabled = False
        self.show()

    def show(self) -> None:
        if self.result is None or self.query is None:
            return
        try:
            res = self.result
            found = lookup(res, self.data.patient_ids, self.query, k=self.k,
                           anonymised=self.anonymise.value)
            test = res["test_index"]
            q_img = self.data.images[test[self.query]]
            if self.anonymise.value:
                q_img = anonymise_images(q_img[None])[0]
        except MedprivError as exc:
            self.message.show_error(exc)
            return
        except Exception as exc:  # noqa: BLE001 - shown in place, the lab keeps working
            self.message.show_error(exc)
            return
        self.query_box.children = [
            W.HTML("<b>The anonymous X-ray</b>"),
            self._tile(q_img, "no name, no ID", border=OTHER)]
        tiles = []
        for rank, (j, same, sim) in enumerate(zip(found.matches, found.same_patient,
                                                  found.similarity), start=1):
            label = f"#{rank} · similarity {sim:.2f}" + ("<br><b>same patient</b>" if same else "")
            tile = self._tile(self.data.images[test[j]], label, border=SAME if same else OTHER)
            if same:
                tile.add_class("medpriv-reid-same")
            tiles.append(tile)
        self.matches.children = [W.VBox([W.HTML("<b>Most similar X-rays of the archive</b>"),
                                         W.HBox(tiles)])]
        who = "child" if res["settings"]["source"] == "pediatric" else "patient"
        if found.rank is None:
            verdict = (f"This time the {who}'s other X-ray is not among the top {self.k}.")
        else:
            verdict = (f"Found: the {who}'s other X-ray is number {found.rank} of "
                       f"{res['metrics']['embedding']['n_gallery']:,} archive X-rays.")
        self.answer.value = f"<p><b>{html.escape(verdict)}</b></p>"
        self.summary.value = self._summary_html(res)

    def _tile(self, image, label: str, *, border: str) -> W.VBox:
        img = W.Image(value=to_png(image), format="png",
                      layout=W.Layout(width="112px", height="112px"))
        img.add_class(PIXELATED_CLASS)
        return W.VBox([img, W.HTML(f"<small>{label}</small>")],
                      layout=W.Layout(border=border, padding="3px", margin="0 6px 6px 0"))

    def _summary_html(self, res: dict) -> str:
        m = res["metrics"]
        who = "child" if res["settings"]["source"] == "pediatric" else "patient"
        words = xray_reidentification_statement(
            precision_at_1=m["embedding"]["precision_at_1"], hit_at_5=m["embedding"]["hit_at_5"],
            baseline_precision_at_1=m["pixel"]["precision_at_1"],
            verification_auc=m["embedding"]["verification_auc"],
            n_gallery=m["embedding"]["n_gallery"], who=who)
        rows = [("learned network", m["embedding"], m["embedding_anonymised"]),
                ("raw pixels (correlation)", m["pixel"], m["pixel_anonymised"])]
        table = ("<table class='medpriv-table'><tr><th></th><th>top-1 correct</th>"
                 "<th>in top 5</th><th>same-patient AUC</th><th>top-1 after anonymising</th></tr>"
                 + "".join(f"<tr><td>{name}</td><td>{a['precision_at_1']:.0%}</td>"
                           f"<td>{a['hit_at_5']:.0%}</td><td>{a['verification_auc']:.2f}</td>"
                           f"<td>{b['precision_at_1']:.0%}</td></tr>" for name, a, b in rows)
                 + "</table>")
        synthetic = " — SYNTHETIC phantoms" if res["synthetic"] else ""
        return (f"<p>{html.escape(str(words))}</p>{table}"
                f"<p style='color:#555'>Held-out patients: {res['n_test_patients']:,} (never "
                f"seen in training). Data: {html.escape(res['caption'])}{synthetic}. Trained in "
                f"{res['train_seconds']:.0f} s on {html.escape(res['device'])}. Published "
                f"(ResNet-50, 256 px, 112,120 adult X-rays): AUC "
                f"{PACKHAEUSER_2022['verification_auc']}, top-1 "
                f"{PACKHAEUSER_2022['precision_at_1']:.1%} — Packhäuser et al., Sci Rep 2022."
                f" Credit: {html.escape(res['credit'])}.</p>")

    def _ipython_display_(self) -> None:
        display(self.widget)


__all__ = ["XrayLookupLab"]
