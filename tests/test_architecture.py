"""House rules that can drift: the core never imports Jupyter; every lab module is importable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import medpriv_widgets

JUPYTER_MODULES = ("ipywidgets", "plotly", "IPython", "anywidget")
#: Everything but the widgets is core: privacy/, attacks/, training/, federated/, arena/, data/,
#: experiments/, explain, the CLI … (new packages are covered without editing this test).
VIEW_PACKAGES = ("medpriv_widgets.widgets",)


def _core_modules() -> list[str]:
    names = ["medpriv_widgets"]
    for m in pkgutil.walk_packages(medpriv_widgets.__path__, prefix="medpriv_widgets."):
        if not m.name.startswith(VIEW_PACKAGES):
            names.append(m.name)
    return sorted(names)


def test_core_never_imports_jupyter():
    # A fresh interpreter, so modules imported by other tests cannot hide an import.
    code = ("import importlib, sys\n"
            f"for name in {_core_modules()!r}:\n"
            "    importlib.import_module(name)\n"
            f"bad = [m for m in {JUPYTER_MODULES!r} if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"the core imported {out.stdout.strip()}"


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(medpriv_widgets.__path__, prefix="medpriv_widgets.")]
    assert "medpriv_widgets.widgets.gallery" in names
    for name in names:
        __import__(name)
