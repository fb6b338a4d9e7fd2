"""Lesson 01 labs on tables: which columns to release (LinkageLab) and a k slider (KAnonymityLab).

Thin views over :mod:`medpriv_widgets.attacks.linkage` (registry, linkage attack, anonymisation,
homogeneity attack) with sentences from :mod:`medpriv_widgets.explain.linkage`. Bad choices (no
column, an unknown column, k larger than the table) are shown as sentences in place, and the lab
keeps working.
"""

from __future__ import annotations

import html

import ipywidgets as W
import pandas as pd
from IPython.display import display

from ..attacks.linkage import (QUASI_IDENTIFIERS, WARDS, homogeneity_attack, link,
                               make_public_source, make_registry, make_release, mondrian)
from ..errors import MedprivError
from ..explain.linkage import (homogeneity_statement, k_anonymity_statement,
                               reidentification_statement)
from ._common import MessageArea

LABELS = {"birth_date": "birth date", "sex": "sex", "postcode": "postcode",
          "admission_date": "admission date", "ward": "ward"}
_TABLE_CSS = ("<style>.medpriv-table td,.medpriv-table th{padding:2px 8px;text-align:left;"
              "border-bottom:1px solid #ddd;font-size:0.9em}</style>")


def _table(frame: pd.DataFrame, *, css_class: str) -> str:
    """A small HTML table (values escaped), with a stable class for tests."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table class='medpriv-table {css_class}'><tr>{head}</tr>{rows}</table>"


def _cell(v) -> str:
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return "—" if v is None or (isinstance(v, float) and v != v) else str(v)


class LinkageLab:
    """Tick the columns a hospital releases; see who the public source names.

    Parameters
    ----------
    n : patients in the synthetic registry. seed : of registry and public source.
    columns : initially released quasi-identifiers. n_names : how many named rows to list.
    """

    def __init__(self, *, n: int = 2000, seed: int = 0,
                 columns=("birth_date", "sex", "postcode"), n_names: int = 8) -> None:
        self.registry = make_registry(n=n, seed=seed)
        self.public = make_public_source(self.registry)
        self.n_names = n_names
        self.result = None
        self.boxes = {c: W.Checkbox(value=c in columns, description=LABELS[c], indent=False,
                                    layout=W.Layout(width="140px"))
                      for c in QUASI_IDENTIFIERS}
        self.fuzzy = W.Checkbox(value=False, indent=False,
                                description="attacker allows typos in birth dates (± 3 days)")
        self.message = MessageArea()
        self.summary = W.HTML()
        self.names = W.HTML()
        for box in (*self.boxes.values(), self.fuzzy):
            box.observe(lambda _: self.update(), names="value")
        self.widget = W.VBox([
            W.HTML(_TABLE_CSS + "<b>Released with each diagnosis:</b>"),
            W.HBox(list(self.boxes.values())), self.fuzzy, self.message, self.summary,
            self.names])
        self.widget.add_class("medpriv-linkage")
        for c, box in self.boxes.items():
            box.add_class(f"medpriv-linkage-col-{c}")
        self.fuzzy.add_class("medpriv-linkage-fuzzy")
        self.summary.add_class("medpriv-linkage-summary")
        self.names.add_class("medpriv-linkage-names")
        self.message.add_class("medpriv-message")
        self.update()

    @property
    def columns(self) -> list[str]:
        return [c for c, box in self.boxes.items() if box.value]

    def set_columns(self, columns) -> None:
        """Tick exactly ``columns`` (an unknown one is reported in place, nothing changes)."""
        unknown = [c for c in columns if c not in self.boxes]
        if unknown:
            self.message.show(
                f"Unknown column(s) {', '.join(map(repr, unknown))}: this registry can release "
                f"{', '.join(self.boxes)}. Nothing was changed.", kind="error")
            return
        with self.widget.hold_trait_notifications():
            for c, box in self.boxes.items():
                box.unobserve_all("value")
                box.value = c in columns
                box.observe(lambda _: self.update(), names="value")
        self.update()

    def update(self) -> None:
        try:
            release = make_release(self.registry, self.columns)
            res = link(release, self.public, tolerance_days=3 if self.fuzzy.value else 0)
        except MedprivError as exc:
            self.result = None
            self.message.show_error(exc)
            self.summary.value = ""
            self.names.value = ""
            return
        except Exception as exc:  # noqa: BLE001 - shown in place, the lab keeps working
            self.message.show_error(exc)
            return
        self.message.clear()
        self.result = res
        note = ""
        if "ward" in self.columns and "ward" not in res.columns:
            note = " (The ward is not in the public source, so it does not help this attacker.)"
        self.summary.value = (
            f"<p>{html.escape(str(reidentification_statement(share=res.share_reidentified, n_rows=res.n_release, columns=res.columns)))}"
            f"{html.escape(note)}</p>"
            + (f"<p style='color:#555'>Wrongly named: {res.share_wrong:.1%} of the rows.</p>"
               if res.share_wrong else ""))
        named = res.matches.loc[res.matches["correct"]].head(self.n_names)
        rows = self.registry.iloc[named["release_row"].to_numpy()]
        shown = pd.DataFrame({"name (from the public source)": named["name"].to_numpy()})
        for c in res.columns:
            shown[LABELS[c]] = rows[c].to_numpy()
        shown["diagnosis (from the release)"] = named["diagnosis"].to_numpy()
        self.names.value = (_table(shown, css_class="medpriv-linkage-table") if len(shown)
                            else "<p><i>Nobody could be named.</i></p>")

    def _ipython_display_(self) -> None:
        display(self.widget)


class KAnonymityLab:
    """Move k: the release is cut into groups of at least k similar patients (Mondrian), each
    released with the ranges of its values; see what that costs, that nobody can be named any
    more — and whose diagnosis a group with a single diagnosis still reveals.

    Parameters
    ----------
    n : patients in the registry. seed. ward : the department whose admissions are released.
    k : initial k. k_max : the slider's end.
    """

    QI = ("birth_date", "sex", "postcode")

    def __init__(self, *, n: int = 20000, seed: int = 0, ward: str = "Psychiatry", k: int = 1,
                 k_max: int = 30, n_rows_shown: int = 8) -> None:
        self.registry = make_registry(n=n, seed=seed)
        self.public = make_public_source(self.registry)
        self.n_rows_shown = n_rows_shown
        self.anonymised = None
        self.ward = W.Dropdown(options=[(w, w) for w in WARDS], value=ward,
                               description="Release:")
        self.k = W.IntSlider(value=k, min=1, max=k_max, description="k:",
                             continuous_update=False)
        self.message = MessageArea()
        self.summary = W.HTML()
        self.preview = W.HTML()
        self.disclosed = W.HTML()
        self.ward.observe(lambda _: self.update(), names="value")
        self.k.observe(lambda _: self.update(), names="value")
        self.widget = W.VBox([
            W.HTML(_TABLE_CSS), W.HBox([self.ward, self.k]), self.message, self.summary,
            W.HTML("<b>The released table (first rows):</b>"), self.preview, self.disclosed])
        self.widget.add_class("medpriv-kanon")
        for w, name in ((self.ward, "ward"), (self.k, "k"), (self.summary, "summary"),
                        (self.preview, "preview"), (self.disclosed, "disclosed")):
            w.add_class(f"medpriv-kanon-{name}")
        self.message.add_class("medpriv-message")
        self.update()

    def table(self) -> pd.DataFrame:
        """The registry rows of the chosen ward."""
        return self.registry.loc[self.registry["ward"] == self.ward.value]

    def set_k(self, k) -> None:
        """Ask for any k (beyond the slider too); a k the table cannot reach is a sentence."""
        self._update(k)

    def update(self) -> None:
        self._update(self.k.value)

    def _update(self, k) -> None:
        try:
            table = self.table()
            release = make_release(table, self.QI)
            anon = mondrian(release, qi=self.QI, k=k)
            linked = link(anon.table, anon.place(self.public), columns=self.QI)
            homog = homogeneity_attack(anon, self.public, registry=table)
        except MedprivError as exc:
            self.message.show_error(exc)
            return
        except Exception as exc:  # noqa: BLE001 - shown in place, the lab keeps working
            self.message.show_error(exc)
            return
        self.message.clear()
        self.anonymised, self.linked, self.homogeneity = anon, linked, homog
        words = k_anonymity_statement(
            k=anon.k_target, k_reached=anon.k, levels=anon.describe_levels().replace("_", " "),
            suppressed=anon.suppressed, n_rows=anon.n_original,
            information_loss=anon.information_loss, reidentified=linked.share_reidentified)
        self.summary.value = (
            f"<p>{html.escape(str(words))}</p>"
            f"<p><b>Birth dates</b> now known to within {anon.mean_range('birth_date'):.1f} "
            f"years on average, <b>postcodes</b> within {anon.mean_range('postcode'):,.0f} "
            f"numbers · <b>rows named:</b> {linked.share_reidentified:.1%} · <b>groups:</b> "
            f"{int(anon.groups.max()) + 1:,}</p>")
        cols = [*self.QI, "diagnosis"]
        self.preview.value = _table(anon.table[cols].head(self.n_rows_shown),
                                    css_class="medpriv-kanon-table")
        text = html.escape(str(homogeneity_statement(
            n_disclosed=homog.n_disclosed, n_targets=homog.n_targets, k=anon.k_target)))
        shown = homog.disclosed.head(self.n_rows_shown)
        self.disclosed.value = f"<p>{text}</p>" + (
            _table(shown.rename(columns={"class_size": "group size"}),
                   css_class="medpriv-kanon-names") if len(shown) else "")

    def _ipython_display_(self) -> None:
        display(self.widget)


__all__ = ["KAnonymityLab", "LinkageLab"]
