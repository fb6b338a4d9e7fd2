"""Arena scenarios: what is attacked, registered by name.

A scenario is pneumonia classification on chest X-rays at one image size, with a
patient-disjoint population: the hospital's training X-rays (*members*), X-rays of other
children (*non-members*), and the official test split for utility. It reuses the membership
experiment's settings (:class:`~medpriv_widgets.experiments.membership.MembershipSettings`), so
the population, the member split and the shadow models are exactly those of lessons 05 and 07
when the settings coincide.

Why these populations. TPR at 0.1 % FPR is only resolved when at least 1,000 non-members are
scored: with fewer, "at most 0.1 % false accusations" means no false accusation at all, and
the number says nothing the 0 % point does not. The 28 px scenario therefore attacks 2,400
training X-rays cut by patient (1,200 members, 1,200 non-members); every result states for
each FPR whether it is resolved. The 64 px scenario keeps 1,000 X-rays (500 non-members: 1 %
resolved, 0.1 % reported as unresolved), because its shadow models cost five times more per
image.

Shadow models (the attacker's) are 8 per scenario: online LiRA needs ≥ 2 "in" and ≥ 2 "out"
models per X-ray, and eight keep the board under ten minutes on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import check_int
from ..errors import InvalidParameterError
from ..experiments.membership import MembershipSettings

#: False-positive rates at which every membership cell reports TPR (Clopper–Pearson).
REPORT_FPRS = (0.001, 0.01)


@dataclass(frozen=True)
class Scenario:
    """One arena scenario.

    name : registry name ('pneumonia-28', …). title : a few words for tables.
    membership : the population, member split, shadow models and DP-target recipe.
    reconstruction_images : member X-rays attacked from one shared update each (the
        reconstruction and re-identification attacks); members with another X-ray in the
        population come first, so re-identification can be judged.
    reconstruction_iterations : optimiser iterations of the gradient-inversion attack.
    """

    name: str
    title: str
    membership: MembershipSettings
    reconstruction_images: int = 4
    reconstruction_iterations: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(f"`name` must be a non-empty string; got {self.name!r}.")
        if not isinstance(self.membership, MembershipSettings):
            raise InvalidParameterError(
                f"`membership` must be MembershipSettings; got {type(self.membership).__name__}.")
        check_int("reconstruction_images", self.reconstruction_images, low=1, high=64)
        check_int("reconstruction_iterations", self.reconstruction_iterations, low=1,
                  high=100_000)

    @property
    def size(self) -> int:
        return self.membership.size

    @property
    def seed(self) -> int:
        return self.membership.seed

    def key(self) -> dict:
        """What the results of this scenario depend on (its name is only a label)."""
        from dataclasses import asdict

        return {"membership": asdict(self.membership),
                "reconstruction_images": self.reconstruction_images,
                "reconstruction_iterations": self.reconstruction_iterations}


SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> Scenario:
    """Add ``scenario`` to :data:`SCENARIOS` under its name (a name is registered once)."""
    if not isinstance(scenario, Scenario):
        raise InvalidParameterError(f"`scenario` must be a Scenario; got {type(scenario).__name__}.")
    if scenario.name in SCENARIOS and SCENARIOS[scenario.name] != scenario:
        raise InvalidParameterError(
            f"A different scenario is already registered as {scenario.name!r}; choose another "
            f"name.")
    SCENARIOS[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    """The scenario registered as ``name``."""
    if name not in SCENARIOS:
        raise InvalidParameterError(
            f"`scenario` must be one of {', '.join(map(repr, SCENARIOS))}; got {name!r}.")
    return SCENARIOS[name]


register_scenario(Scenario(
    name="pneumonia-28", title="pneumonia, 28 px, 2,400 X-rays",
    membership=MembershipSettings(size=28, n_population=2400, n_shadows=8, shadow_epochs=60,
                                  batch_size=32, width=8, dp_epochs=20, dp_batch_size=64)))
register_scenario(Scenario(
    name="pneumonia-64", title="pneumonia, 64 px, 1,000 X-rays",
    membership=MembershipSettings(size=64, n_population=1000, n_shadows=8, shadow_epochs=40,
                                  batch_size=32, width=8, dp_epochs=20, dp_batch_size=64)))
# CI, MEDPRIV_FAST lessons and tests: seconds, not minutes; numbers only show the code runs.
register_scenario(Scenario(
    name="pneumonia-28-small", title="pneumonia, 28 px, 200 X-rays (small)",
    membership=MembershipSettings(size=28, n_population=200, n_shadows=4, shadow_epochs=30,
                                  batch_size=16, width=8, dp_epochs=2, dp_batch_size=16),
    reconstruction_images=2, reconstruction_iterations=20))

__all__ = ["REPORT_FPRS", "SCENARIOS", "Scenario", "get_scenario", "register_scenario"]
