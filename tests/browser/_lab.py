"""What a workshop attendee does in JupyterLab, as plain helpers shared by the browser tests.

The fixtures in ``conftest.py`` start one JupyterLab server per session and hand each test a
:class:`LabSession` (fixture ``lab``): open a notebook, Run All from the menu, wait until the
kernel is idle, press keys on a slider, click a button, read a widget's text or a plotly
figure's drawing, and collect everything on the page that looks like an error.

Selectors: lab widgets carry ``medpriv-…`` CSS classes (added in ``medpriv_widgets/widgets``);
ipywidgets sliders are noUiSlider elements (``.noUi-handle`` takes arrow keys); plotly figures
render into ``.js-plotly-plot`` inside the widget's element.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"

# The execution indicator says 'idle' even before a kernel exists; the status bar names a
# connected kernel ('Python 3 (ipykernel) | Idle') only once it is really there.
KERNEL_READY = """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
    .some(e => /^(?!No Kernel).+ \\| Idle$/.test(e.textContent.trim()))"""
# A code cell's prompt shows [*] while queued or running and [n] once done.
STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
ALL_DONE = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .every(p => !p.textContent.includes('*'))"""

# Texts that mean something broke, wherever they appear in an output (widgets included).
ERROR_PATTERNS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r"^\s*\w*(Error|Exception): ", re.M),   # a Python exception line
    re.compile(r"Something went wrong"),                 # MessageArea.show_error, unexpected error
    re.compile(r"Error displaying widget|Failed to load model class|Model not found"),
)

# Everything a plotly figure draws that a learner can see change: title, annotations, legend,
# axis ticks and the traces' paths and markers.
_PLOT_SIGNATURE = """(sel) => {
    const root = document.querySelector(sel);
    if (!root) return null;
    const plot = root.matches('.js-plotly-plot') ? root : root.querySelector('.js-plotly-plot');
    if (!plot) return null;
    return [...plot.querySelectorAll(
        '.gtitle, .annotation-text, .legendtext, .xtick text, .ytick text, ' +
        '.scatterlayer path, .scatterlayer .point, .barlayer path')]
        .map(e => e.getAttribute('d') || e.getAttribute('transform') || e.textContent)
        .join('|');
}"""

# Records every text an element shows (a MutationObserver), so short-lived states such as
# 'epoch 1/2' during a fast run are seen even if no poll happens to land on them.
_WATCH = """(sel) => {
    window.__medprivSeen = window.__medprivSeen || {};
    const seen = window.__medprivSeen[sel] = [];
    const el = document.querySelector(sel);
    if (!el) return false;
    const note = () => { const t = el.textContent.replace(/\\s+/g, ' ').trim();
                         if (seen[seen.length - 1] !== t) seen.push(t); };
    note();
    new MutationObserver(note).observe(el, {subtree: true, childList: true,
                                           characterData: true, attributes: true});
    return true;
}"""


class LabSession:
    """One browser page on the session's JupyterLab server, used as a learner would."""

    def __init__(self, *, page, server, workspace: str, artifacts: Path) -> None:
        self.page, self.server, self.workspace, self.artifacts = page, server, workspace, artifacts

    # ------------------------------------------------------------------ notebook
    def open(self, notebook: str, *, timeout_s: float = 90) -> None:
        """Open ``notebook`` in its own workspace and wait for a connected, idle kernel.

        A workspace per test keeps the tabs of earlier tests from being restored alongside.
        """
        self.page.goto(self.server.url(f"lab/workspaces/{self.workspace}/tree/{notebook}"))
        ms = int(timeout_s * 1000)
        # The kernel starts by itself (jupyterlab_settings/overrides.json: autoStartDefaultKernel).
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=ms)
        self.page.wait_for_function(KERNEL_READY, timeout=ms)
        self.page.wait_for_selector(IDLE, timeout=ms)

    def run_all(self, *, timeout_s: float = 180) -> float:
        """Run → Run All Cells through the menu bar; return when every cell ran (seconds)."""
        t0 = time.monotonic()
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel",
                          has_text=re.compile(r"^Run All Cells$")).click()
        self.page.wait_for_function(STARTED, timeout=30_000)
        self.page.wait_for_function(ALL_DONE, timeout=int(timeout_s * 1000))
        self.wait_idle()
        return time.monotonic() - t0

    def wait_idle(self, *, timeout_s: float = 60) -> None:
        self.page.wait_for_selector(IDLE, timeout=int(timeout_s * 1000))

    def run_lesson(self, notebook: str, *, timeout_s: float = 180) -> None:
        """Open ``notebook``, Run All, and assert every code cell ran without an error."""
        self.open(notebook)
        self.run_all(timeout_s=timeout_s)
        self.assert_no_errors("after Run All")
        done, total = self.executed_cells()
        assert done == total, f"only {done} of {total} code cells ran"

    def executed_cells(self) -> tuple[int, int]:
        """(code cells with an execution count, code cells)."""
        prompts = self.page.locator(".jp-CodeCell .jp-InputArea-prompt").all_text_contents()
        return sum(bool(re.search(r"\[\d+\]", p)) for p in prompts), len(prompts)

    def output_text(self) -> str:
        return "\n".join(self.page.locator(".jp-OutputArea-output").all_text_contents())

    def errors(self) -> list[str]:
        """Every output (widgets included) that shows a traceback or an unexpected error."""
        texts = self.page.locator(".jp-OutputArea-output").all_text_contents()
        return [t[:2000] for t in texts if any(p.search(t) for p in ERROR_PATTERNS)]

    def assert_no_errors(self, when: str) -> None:
        errors = self.errors()
        assert not errors, f"{when}: the page shows an error:\n" + "\n---\n".join(errors)

    # ------------------------------------------------------------------ widgets
    def widget(self, selector: str):
        """The first element matching ``selector``, scrolled into view."""
        loc = self.page.locator(selector).first
        loc.wait_for(state="attached", timeout=180_000)  # generous: a loaded machine renders slowly
        loc.scroll_into_view_if_needed()
        return loc

    def text(self, selector: str) -> str:
        """The element's text, whitespace collapsed (textContent: independent of scrolling)."""
        return " ".join((self.widget(selector).text_content() or "").split())

    def press_slider(self, selector: str, key: str = "ArrowRight", *, times: int = 1) -> None:
        """Focus the noUiSlider handle inside ``selector`` and press ``key`` ``times`` times."""
        handle = self.widget(f"{selector} .noUi-handle")
        handle.focus()
        for _ in range(times):
            self.page.keyboard.press(key)

    def slider_readout(self, selector: str) -> str:
        return self.text(f"{selector} .widget-readout")

    def click(self, selector: str, *, timeout_s: float = 30) -> None:
        """Click (waits until the button is visible and enabled, as a person would)."""
        self.widget(selector).click(timeout=int(timeout_s * 1000))

    def is_disabled(self, selector: str) -> bool:
        return self.widget(selector).is_disabled()

    def progress_fraction(self, selector: str) -> float:
        """How full the ipywidgets progress bar inside ``selector`` is drawn (0–1)."""
        self.widget(selector)
        return self.page.evaluate("""(sel) => {
            const bar = document.querySelector(sel + ' .progress-bar');
            return bar.getBoundingClientRect().width /
                   bar.parentElement.getBoundingClientRect().width;
        }""", selector)

    def plot_signature(self, selector: str) -> str:
        """A string that changes whenever what the plotly figure in ``selector`` draws changes."""
        self.widget(selector)
        self.page.wait_for_function(f"() => !!document.querySelector({selector!r} + ' .main-svg')",
                                    timeout=60_000)
        sig = self.page.evaluate(_PLOT_SIGNATURE, selector)
        assert sig, f"no plotly figure drawn in {selector}"
        return sig

    def legend(self, selector: str) -> list[str]:
        """The legend entries of the plotly figure in ``selector``."""
        return self.page.evaluate(
            """(sel) => [...document.querySelectorAll(sel + ' .legendtext')]
                            .map(e => e.textContent)""", selector)

    def assert_legend_named(self, selector: str) -> None:
        """No legend entry is plotly's placeholder 'trace N' (a lost trace name)."""
        unnamed = [t for t in self.legend(selector) if re.fullmatch(r"trace \d+", t)]
        assert not unnamed, f"unnamed traces in the legend of {selector}: {self.legend(selector)}"

    def wait_plot_changed(self, selector: str, before: str, *, timeout_s: float = 60) -> str:
        self.page.wait_for_function(f"(old) => ({_PLOT_SIGNATURE})({selector!r}) !== old",
                                    arg=before, timeout=int(timeout_s * 1000))
        return self.plot_signature(selector)

    def wait_text(self, selector: str, pattern: str, *, timeout_s: float = 60) -> str:
        """Wait until the text of ``selector`` matches the regular expression ``pattern``."""
        self.page.wait_for_function(
            """([sel, pat]) => { const e = document.querySelector(sel);
                                 return !!e && new RegExp(pat).test(e.textContent); }""",
            arg=[selector, pattern], timeout=int(timeout_s * 1000))
        return self.text(selector)

    def wait_text_changed(self, selector: str, before: str, *, timeout_s: float = 60) -> str:
        self.page.wait_for_function(
            """([sel, old]) => { const e = document.querySelector(sel);
                                 return !!e && e.textContent.replace(/\\s+/g, ' ').trim() !== old; }""",
            arg=[selector, before], timeout=int(timeout_s * 1000))
        return self.text(selector)

    def watch(self, selector: str) -> None:
        """Start recording every text ``selector`` shows (read back with :meth:`seen`)."""
        assert self.page.evaluate(_WATCH, selector), f"nothing matches {selector}"

    def seen(self, selector: str) -> list[str]:
        return self.page.evaluate("(sel) => (window.__medprivSeen || {})[sel] || []", selector)

    def wait_seen(self, selector: str, pattern: str, *, timeout_s: float = 60) -> str:
        """Wait until ``selector`` shows a *new* text (since :meth:`watch`) matching ``pattern``.

        A text that was already there when watching began does not count: after a click, the
        old 'done' must not be mistaken for the new one.
        """
        self.page.wait_for_function(
            """([sel, pat]) => ((window.__medprivSeen || {})[sel] || []).slice(1)
                                   .some(t => new RegExp(pat).test(t))""",
            arg=[selector, pattern], timeout=int(timeout_s * 1000))
        return next(t for t in self.seen(selector)[1:] if re.search(pattern, t))

    def snap(self, name: str, selector: str) -> None:
        """Screenshot of one widget, only when ``$MEDPRIV_BROWSER_ARTIFACTS`` is set (to look at
        what a learner sees; costs nothing otherwise)."""
        folder = os.environ.get("MEDPRIV_BROWSER_ARTIFACTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.widget(selector).screenshot(path=str(Path(folder) / f"{name}.png"))

    # ------------------------------------------------------------------ failure evidence
    def save_evidence(self, name: str) -> list[Path]:
        """A screenshot, the text of every output and the server log, for a failing test."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        saved = []
        shot = self.artifacts / f"{name}.png"
        try:
            self.page.screenshot(path=str(shot), full_page=True)
            saved.append(shot)
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"could not save a screenshot: {exc}")
        # JupyterLab scrolls inside the notebook panel, so the screenshot shows one screenful;
        # the text of every output says what the rest of the notebook showed.
        try:
            outputs = self.artifacts / f"{name}.outputs.txt"
            texts = self.page.locator(".jp-OutputArea-output").all_text_contents()
            outputs.write_text("\n\n=====\n\n".join(texts))
            saved.append(outputs)
        except Exception as exc:
            print(f"could not save the outputs' text: {exc}")
        log = self.artifacts / f"{name}.jupyter.log"
        log.write_text(self.server.log_tail(200_000))
        saved.append(log)
        return saved
