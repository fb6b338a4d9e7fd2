"""Sentences about the classroom's shared privacy budget (:mod:`medpriv_widgets.classroom`)."""

from __future__ import annotations

__all__ = ["classroom_note_text", "classroom_reset_refused_text"]


def classroom_note_text(*, shared: bool, path=None, env: str) -> str:
    if shared:
        return ("This is the CLASSROOM's budget: every learner's questions here — and those from "
                "any other window you open — spend from one budget, kept in one file, so you "
                "will see it shrink as the class asks, and lock for everyone when it is spent. "
                "Restarting your kernel gives nothing back.")
    return (f"No classroom budget is set up on this machine ({env} is not set), so this budget "
            f"is yours alone. In a workshop on a JupyterHub, the whole class shares it.")


def classroom_reset_refused_text(path) -> str:
    return ("Only an instructor can give the classroom its budget back, not one learner for the "
            "whole class. Instructors: in a terminal on the hub run `python -c \"from "
            "medpriv_widgets.classroom import reset_classroom_budget; "
            f"reset_classroom_budget(path='{path}')\"`.")
