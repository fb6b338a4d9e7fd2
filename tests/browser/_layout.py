"""What a learner would call "looks broken", as checks on the page (used with ``_lab.LabSession``).

- :func:`overflow`: controls cut or pushed out of a lab (text wider than its button or readout,
  a lab wider than the notebook).
- :func:`title_cut`: a plotly title running past its figure's edge ("… — CPU (2 t").
- :func:`stretched_images`: an image shown with another aspect ratio than its pixels'.
- :func:`raw_output`: raw Python in an output — a float dump, an object's repr, unrendered maths.
- :func:`move_slider_to_end`: a noUiSlider handle to its minimum or maximum, as a person does
  with Home / End (or arrow keys where those are not handled).
"""

from __future__ import annotations

import re

RAW_PATTERNS = (
    re.compile(r"\d+\.\d{7,}"),                               # 3489.9151179968967
    re.compile(r"\d(\.\d+)?e[+-]\d{2,}"),                     # 5.5e+10
    re.compile(r"\b[A-Z]\w+\((\w+=[^)]*, ){2,}"),             # TrainConfig(size=64, …
    re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>"),            # <… object at 0x7f…>
    re.compile(r"\\(dfrac|frac|varepsilon|epsilon)\b|e\^\{"),  # maths not rendered
    re.compile(r"\d\s*μ\b"),                                  # plotly's '100μ' tick
)


def overflow(page, selector: str) -> list[str]:
    """Texts of the controls inside ``selector`` whose content does not fit, and the lab itself
    when it is wider than the space it has."""
    return page.evaluate("""(sel) => {
        const root = document.querySelector(sel);
        if (!root) return ['(no ' + sel + ')'];
        const bad = [];
        const area = root.closest('.jp-OutputArea-output') || root.parentElement;
        if (root.getBoundingClientRect().right > area.getBoundingClientRect().right + 2)
            bad.push('lab wider than its output area');
        for (const el of root.querySelectorAll(
                '.widget-button, .widget-readout, .widget-label, .widget-toggle-button')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;   // hidden on purpose
            if (el.scrollWidth > el.clientWidth + 1 || r.right > area.getBoundingClientRect().right + 2)
                bad.push((el.textContent || el.title || el.className).trim().slice(0, 60));
        }
        return bad;
    }""", selector)


def title_cut(page, selector: str) -> list[str]:
    """Plotly titles inside ``selector`` that run past their figure's left or right edge."""
    return page.evaluate("""(sel) => {
        const bad = [];
        for (const plot of document.querySelectorAll(sel + ' .js-plotly-plot, ' + sel + '.js-plotly-plot')) {
            const svg = plot.querySelector('.main-svg');
            if (!svg) continue;
            const box = svg.getBoundingClientRect();
            for (const t of plot.querySelectorAll('.gtitle')) {
                const r = t.getBoundingClientRect();
                if (r.left < box.left - 1 || r.right > box.right + 1) bad.push(t.textContent);
            }
        }
        return bad;
    }""", selector)


def stretched_images(page, selector: str, *, tolerance: float = 0.03) -> list[str]:
    """Images inside ``selector`` drawn with an aspect ratio off their pixels' by more than
    ``tolerance`` (relative)."""
    return page.evaluate("""([sel, tol]) => {
        const bad = [];
        for (const img of document.querySelectorAll(sel + ' img')) {
            const r = img.getBoundingClientRect();
            if (!img.naturalWidth || !r.width || !r.height) continue;
            const want = img.naturalWidth / img.naturalHeight, got = r.width / r.height;
            if (Math.abs(got / want - 1) > tol) bad.push(`${img.naturalWidth}x${img.naturalHeight} drawn ${Math.round(r.width)}x${Math.round(r.height)}`);
        }
        return bad;
    }""", [selector, tolerance])


def raw_output(text: str) -> list[str]:
    """Pieces of ``text`` that are raw Python or maths rather than words for people."""
    return [m.group(0) for p in RAW_PATTERNS for m in p.finditer(text)]


def move_slider_to_end(lab, selector: str, *, end: str, max_presses: int = 400) -> str:
    """Put the slider in ``selector`` at its minimum (``end='min'``) or maximum; return the
    readout. Home / End first; arrow keys until the readout stops changing otherwise."""
    key, arrow = ("Home", "ArrowLeft") if end == "min" else ("End", "ArrowRight")
    before = lab.slider_readout(selector)
    lab.press_slider(selector, key)
    try:
        return lab.wait_text_changed(f"{selector} .widget-readout", before, timeout_s=10)
    except Exception:
        pass
    last = before
    for _ in range(max_presses // 20):
        lab.press_slider(selector, arrow, times=20)
        try:
            now = lab.wait_text_changed(f"{selector} .widget-readout", last, timeout_s=10)
        except Exception:
            return last
        last = now
    return last
