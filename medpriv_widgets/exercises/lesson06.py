"""Exercises of lesson 06 (federated hospitals): how many drop-outs secure aggregation survives,
and how many rounds a small hospital's budget pays for.

06-dropout runs the real protocol (:func:`~medpriv_widgets.federated.secure_aggregation.secure_sum`,
X25519 + Shamir shares) with the learner's number of drop-outs and one more; 06-rounds spends
DP-SGD rounds from a real :class:`~medpriv_widgets.privacy.ledger.PrivacyLedger` until it refuses.
"""

from __future__ import annotations

import functools
import tempfile

from ..explain.numbers import format_number
from .core import AnswerForm, Exercise, Outcome

N_SITES, THRESHOLD = 5, 3
#: The small hospital of 06-rounds: children, batch size, local steps per round, σ, budget.
CHILDREN, BATCH, LOCAL_STEPS, SIGMA, BUDGET = 250, 64, 10, 1.5, 5.0


def _round_survives(dropped: int) -> bool:
    """True when a secure-aggregation round of N_SITES with ``dropped`` drop-outs releases the
    exact sum; False when it is abandoned (SecureAggregationError)."""
    import numpy as np

    from ..errors import SecureAggregationError
    from ..federated.secure_aggregation import secure_sum

    rng = np.random.default_rng(0)
    updates = {i: rng.normal(size=8) for i in range(N_SITES)}
    try:
        result = secure_sum(updates, threshold=THRESHOLD, drop_after_sharing=range(dropped))
    except SecureAggregationError:
        return False
    expected = sum(updates[i] for i in result.survivors)
    if not np.allclose(result.total, expected, atol=10 * result.max_error + 1e-9):
        raise RuntimeError("the protocol returned a wrong sum.")
    return True


def _judge_dropout(dropped: int) -> Outcome:
    if dropped > N_SITES:
        return Outcome(False, f"There are only {N_SITES} hospitals.",
                       "more hospitals cannot drop out than take part.")
    if not _round_survives(dropped):
        return Outcome(False, f"With {dropped} of {N_SITES} hospitals gone, only "
                              f"{N_SITES - dropped} are left, fewer than the {THRESHOLD} shares "
                              f"needed to remove the masks: the round was abandoned and nothing "
                              f"was released.", "that many drop-outs end the round.")
    if dropped < N_SITES and _round_survives(dropped + 1):
        return Outcome(False, f"The round still released the exact sum with {dropped + 1} "
                              f"hospitals gone.", "more hospitals can drop out than that.")
    return Outcome(True, f"With {dropped} hospitals gone the {N_SITES - dropped} others still "
                         f"hold {THRESHOLD} shares of every secret, so the server removed the "
                         f"masks and got the exact sum; one more drop-out and the round is "
                         f"abandoned — never a partial sum.")


@functools.lru_cache(maxsize=1)
def rounds_paid() -> tuple[int, list[float]]:
    """(rounds the small hospital's ledger pays for, total ε after each of them)."""
    from ..errors import PrivacyBudgetError
    from ..privacy.ledger import PrivacyLedger

    with tempfile.TemporaryDirectory(prefix="medpriv-exercise-") as folder:
        ledger = PrivacyLedger(folder, epsilon=BUDGET, delta=1e-5, dataset="exercise",
                               institution="small hospital")
        totals: list[float] = []
        while len(totals) < 100:
            try:
                ledger.spend_dpsgd(noise_multiplier=SIGMA, sample_rate=BATCH / CHILDREN,
                                   steps=LOCAL_STEPS, note=f"round {len(totals) + 1}")
            except PrivacyBudgetError:
                break
            totals.append(ledger.spent()[0])
        return len(totals), totals


def _judge_rounds(predicted: int) -> Outcome:
    n, totals = rounds_paid()
    spent = ", ".join(f"{format_number(t, rounding='up')}" for t in totals)
    found = (f"The ledger paid for {n} round{'s' if n != 1 else ''} (total ε after each: "
             f"{spent}) and then refused the next, locking the hospital out of the federation. "
             f"Each child is a large share of a small hospital's data (q = "
             f"{BATCH}/{CHILDREN}), so every round costs it much more than a large hospital.")
    return Outcome(predicted == n, found, f"you predicted {predicted}.")


EXERCISES = [
    Exercise(
        id="06-dropout", title="How many hospitals may drop out?", kind="predict",
        question=(
            f"**{N_SITES} hospitals** run secure aggregation with a **threshold of "
            f"{THRESHOLD}** (the shares needed to rebuild a secret). After exchanging their "
            f"keys, some go offline before sending their update. **Predict:** how many can drop "
            f"out with the round still releasing the exact sum? Answer with a whole number."),
        form=AnswerForm("integer", low=0, high=1000),
        judge=_judge_dropout,
        hint=("The masks of a hospital that dropped out are removed with the shares its "
              "partners hold: enough hospitals must still be online to hand over the threshold "
              "number of shares."),
        solution=2,
        explanation=("Three survivors hold the 3 shares needed; with 3 drop-outs only 2 are left "
                     "and the round is abandoned.")),
    Exercise(
        id="06-rounds", title="Rounds a small hospital can pay for", kind="predict",
        question=(
            f"A small hospital with **{CHILDREN} children** joins the federation with DP-SGD: "
            f"batches of {BATCH} (so q = {BATCH}/{CHILDREN}), **{LOCAL_STEPS} steps per round**, "
            f"noise **σ = {SIGMA}**, and a budget of **ε = {BUDGET:g}** (δ = 10⁻⁵). "
            f"**Predict:** how many rounds can it take part in before its ledger locks it out?"),
        form=AnswerForm("integer", low=0, high=1000),
        judge=_judge_rounds,
        hint=("Rounds do not add up linearly (the accountant composes them), but a hospital "
              "where each child is a quarter of every batch pays a lot per round: the first "
              "round alone costs about ε = 3."),
        solution=2,
        explanation=("One round costs ε ≈ 3.2, two ≈ 4.3, three ≈ 5.3 > 5: two rounds, then the "
                     "ledger refuses and locks.")),
]
