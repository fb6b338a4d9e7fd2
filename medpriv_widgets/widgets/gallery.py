"""A first look at the data: normal and pneumonia chest X-rays side by side.

``XrayGallery`` shows the k-th normal and the k-th pneumonia image of one split, with a size
selector (28 / 64 / 128 px) and an image slider. It holds no mathematics: pixels come from
:func:`medpriv_widgets.data.load_dataset`, PNG encoding from :mod:`.images`. Loading problems
(a size or split that is not available, a corrupt file) are shown in place and the gallery keeps
showing what it showed before.
"""

from __future__ import annotations

import html
from contextlib import contextmanager

import ipywidgets as W

from .._validate import check_choice, check_int
from ..data import load_dataset
from ._common import MessageArea, synthetic_data_notes
from .images import PIXELATED_CLASS, PIXELATED_CSS, to_png

SIZES = (28, 64, 128)
SPLITS = ("train", "val", "test")
CLASS_NAMES = ("Normal", "Pneumonia")  # label 0, label 1

#: Stable DOM hooks (CSS classes) for the browser test and for instructors' custom CSS.
IMAGE_CLASS = "medpriv-gallery-image"
SLIDER_CLASS = "medpriv-gallery-slider"
SIZE_CLASS = "medpriv-gallery-size"

ATTRIBUTION = ("Chest X-rays: Kermany et al. 2018 (CC BY 4.0) via MedMNIST (Yang et al. 2023). "
               "Not for clinical use.")
SYNTHETIC_NOTE = ("No real patient: these pictures are drawn by a program. Its 'pneumonia' "
                  "pictures carry a few faint patches in the lungs, so the two classes look "
                  "much alike; real pneumonia X-rays differ more.")


def describe_source(data) -> str:
    """One phrase saying where the pixels came from: official, development stand-in or SYNTHETIC."""
    if data.synthetic:
        return ("SYNTHETIC phantoms: drawn by a program, no real patient "
                "(no data file was found and none could be downloaded)")
    if data.official:
        return "official MedMNIST release (checksum verified)"
    return "development stand-in (derived from the same X-rays, not the official file)"


class XrayGallery:
    """Normal vs pneumonia chest X-rays side by side, with a size selector and an image slider.

    Parameters
    ----------
    size : int
        Starting image size in pixels: 28, 64 or 128.
    split : str
        Which split to show: 'train', 'val' or 'test' (the 128 px stand-in has no 'val').
    index : int
        Starting position k (>= 0): the gallery shows the k-th normal and the k-th pneumonia
        image, as pair number k + 1 (the slider and the caption count pairs from 1).
    display_px : int
        On-screen width and height of each image in CSS pixels (the PNG keeps its true size;
        the browser enlarges it without blurring).

    Use ``gallery.widget`` (or just put ``gallery`` last in a cell) to display it. ``set_size``
    and ``show`` do what the controls do, for scripts and tests.
    """

    def __init__(self, *, size: int = 28, split: str = "test", index: int = 0,
                 display_px: int = 224) -> None:
        size = check_choice("size", size, SIZES)
        self.split = check_choice("split", split, SPLITS)
        index = check_int("index", index, low=0)
        self.display_px = check_int("display_px", display_px, low=32, high=1024)

        self._datasets: dict[int, object] = {}  # size -> ChestXrayData, loaded once per size
        self._by_class: dict[int, tuple] = {}  # size -> (normal indices, pneumonia indices)
        self.data = None
        self.size: int | None = None
        self._quiet = False  # True while we set controls ourselves: observers stay silent

        self.messages = MessageArea()
        self.size_selector = W.ToggleButtons(
            options=[(f"{s} px", s) for s in SIZES], value=size, description="Size:",
            tooltips=["28 × 28 pixels (MedMNIST)", "64 × 64 pixels", "128 × 128 pixels"],
            style={"button_width": "70px"})
        self.size_selector.add_class(SIZE_CLASS)
        # Pair numbers from 1, as the caption says them ("pair 6 of 234").
        self.slider = W.IntSlider(value=1, min=1, max=1, description="Pair:",
                                  continuous_update=True, layout=W.Layout(width="460px"))
        self.slider.add_class(SLIDER_CLASS)
        self.images = []
        self.labels = []
        columns = []
        for name in CLASS_NAMES:
            img = W.Image(format="png", layout=W.Layout(width=f"{self.display_px}px",
                                                        height=f"{self.display_px}px"))
            img.add_class(IMAGE_CLASS)
            label = W.HTML(f"<b>{name}</b>")
            self.images.append(img)
            self.labels.append(label)
            columns.append(W.VBox([label, img], layout=W.Layout(align_items="center",
                                                                margin="0 8px")))
        self.caption = W.HTML()
        self.widget = W.VBox([
            W.HTML(PIXELATED_CSS),
            self.size_selector,
            self.slider,
            W.HBox(columns),
            self.caption,
            self.messages,
        ])
        self.widget.add_class("medpriv-gallery")

        self.set_size(size, index=index)
        self.size_selector.observe(self._on_size, names="value")
        self.slider.observe(self._on_index, names="value")

    # -- public, synchronous API -----------------------------------------------------------
    def set_size(self, size: int, *, index: int | None = None) -> bool:
        """Switch to ``size`` px images; returns False (and shows why) if they cannot be loaded.

        On failure the gallery keeps the images and size it showed before.
        """
        try:
            size = check_choice("size", size, SIZES)
            data = self._load(size)
        except Exception as exc:  # shown in place: the widget stays usable
            self.messages.show_error(exc)
            self._restore_selector()
            return False
        normal, pneumonia = self._by_class[size]
        n_pairs = min(len(normal), len(pneumonia))
        if n_pairs == 0:
            self.messages.show(f"The {size} px {self.split} images are all of one class, so there "
                               "is no normal/pneumonia pair to show. Try another size.",
                               kind="warning")
            self._restore_selector()
            return False
        self.data, self.size = data, size
        if data.synthetic:
            self.messages.show(
                "These are SYNTHETIC phantoms, not real X-rays: no chest X-ray file was found "
                "and none could be downloaded. Ask your instructor, or run "
                f"`medpriv data fetch --size {size}` where there is internet.", kind="warning")
        else:
            self.messages.clear()
        if self.size_selector.value != size:
            with self._silently():
                self.size_selector.value = size
        keep = self.index if index is None else index
        with self._silently():  # one redraw below, not one per slider trait change
            self.slider.max = n_pairs
            self.slider.value = min(max(int(keep), 0), n_pairs - 1) + 1
        for img in self.images:
            # Enlarged small images keep hard pixel edges; 128 px is smooth enough as it is.
            if size < 128:
                img.add_class(PIXELATED_CLASS)
            else:
                img.remove_class(PIXELATED_CLASS)
        self._draw()
        return True

    def show(self, index: int) -> None:
        """Show the ``index``-th normal and pneumonia pair (same as moving the slider)."""
        index = check_int("index", index, low=0, high=self.slider.max - 1)
        if self.index == index:
            self._draw()
        else:
            self.slider.value = index + 1  # the observer redraws

    @property
    def index(self) -> int:
        """Position k of the pair on screen (0 = the first; the slider shows k + 1)."""
        return int(self.slider.value) - 1

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # -- internals ---------------------------------------------------------------------------
    def _restore_selector(self) -> None:
        """Put the size buttons back on the size still on screen (after a failed switch)."""
        if self.size is not None and self.size_selector.value != self.size:
            with self._silently():
                self.size_selector.value = self.size

    @contextmanager
    def _silently(self):
        """Set controls from code without their observers reloading or redrawing."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _load(self, size: int):
        if size not in self._datasets:
            with synthetic_data_notes():  # said in the gallery's own message (set_size)
                data = load_dataset(size=size, split=self.split)
            labels = data.labels.numpy()
            self._by_class[size] = ((labels == 0).nonzero()[0], (labels == 1).nonzero()[0])
            self._datasets[size] = data
        return self._datasets[size]

    def _draw(self) -> None:
        k = self.index
        normal, pneumonia = self._by_class[self.size]
        for name, img, label, rows in zip(CLASS_NAMES, self.images, self.labels,
                                          (normal, pneumonia)):
            i = int(rows[k])
            img.value = to_png(self.data.images[i, 0])
            patient = ""
            if self.data.patient_ids is not None:
                patient = f" · patient {html.escape(str(self.data.patient_ids[i]))}"
            label.value = (f"<b>{name}</b> <span style='color:#666'>({self.data.split} #{i}"
                           f"{patient})</span>")
        # The real X-rays' credit belongs under real X-rays only.
        credit = (SYNTHETIC_NOTE if self.data.synthetic else ATTRIBUTION)
        self.caption.value = (
            f"<div style='font-size:0.9em;line-height:1.4'>"
            f"<b>{html.escape(self.data.caption)}</b>: {self.size} × {self.size} pixels, "
            f"pair {k + 1} of {self.slider.max} from the <i>{html.escape(self.split)}</i> "
            f"split.<br>Source: {html.escape(describe_source(self.data))}.<br>"
            f"<span style='color:#555'>{html.escape(credit)}</span></div>")

    def _on_size(self, change) -> None:
        if not self._quiet:
            self.set_size(change["new"])

    def _on_index(self, change) -> None:
        if self._quiet:
            return
        try:
            self._draw()
        except Exception as exc:  # never let a callback traceback replace the widget
            self.messages.show_error(exc)


def data_summary(*, size: int = 28, split: str = "test") -> str:
    """Sentences for a lesson's data check: how many images of each class were loaded, from
    where, and (for synthetic phantoms) what to do, without Python's warning block."""
    size = check_choice("size", size, SIZES)
    split = check_choice("split", split, SPLITS)
    with synthetic_data_notes() as notes:
        data = load_dataset(size=size, split=split)
    n_pneumonia = int(data.labels.sum())
    text = (f"Loaded {len(data):,} {split} images of {data.size} × {data.size} pixels: "
            f"{len(data) - n_pneumonia:,} normal, {n_pneumonia:,} pneumonia.\n"
            f"Source: {describe_source(data)}.")
    if data.synthetic and notes:
        text += "\n" + notes[0]
    return text
