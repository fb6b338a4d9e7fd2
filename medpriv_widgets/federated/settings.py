"""The full description of one federation, checked once; it is also the cache key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from .._validate import check_choice, check_int, check_open_unit, check_positive, check_real
from ..errors import InvalidParameterError
from ..models.cnn import SUPPORTED_SIZES
from ..privacy.accounting import ACCOUNTANTS
from ..training import TrainConfig
from .hospitals import SiteSpec, check_sites, default_sites


@dataclass(frozen=True)
class FederationSettings:
    """Sites, rounds, local training, privacy and aggregation of one federated run.

    Attributes
    ----------
    size : {28, 64, 128}
        Image side in pixels.
    sites : tuple of SiteSpec
        2 to 6 hospitals (default: the first four of
        :data:`~medpriv_widgets.federated.hospitals.DEFAULT_SITES`).
    n_images : int or None
        Training X-rays over all hospitals (None: as many as the pool allows).
    rounds : int
        Rounds R: the server sends the global model, each hospital trains on its own X-rays and
        sends back its change, the server averages the changes.
    local_steps : int
        SGD steps each hospital takes per round. 1 is FedSGD (one averaged gradient step);
        more is FedAvg (fewer rounds, but hospitals drift apart on uneven data).
    batch_size, lr : int, float
        Local (expected, under DP-SGD) batch size and SGD learning rate (momentum 0.9, reset
        every round).
    server_lr : float
        The server moves the global model by ``server_lr`` × the averaged change.
    noise_multiplier : float or None
        σ of example-level DP-SGD inside every hospital (Opacus; None: not private). Each round
        costs every hospital ``local_steps`` steps at q = 1/ceil(n_k / batch_size), charged to
        its own ledger.
    max_grad_norm : float
        Clipping norm C of that DP-SGD.
    delta : float
        δ of every ε reported (example level and site level).
    site_noise_multiplier : float
        z of site-level DP-FedAvg (McMahan et al. 2018): each hospital's change is clipped to
        L2 norm ``site_clip`` and the server adds N(0, (z·S)²) to their sum, so the model
        hides whether any *whole hospital* took part. 0: off.
    site_clip : float or None
        S, the clipping norm of site-level DP (needed when z > 0; may be set alone).
    secure_aggregation : bool
        Sum the changes with secure aggregation (the server sees only the sum).
    threshold : int or None
        Secure-aggregation threshold t (None: a majority of the round's hospitals).
    dropouts : tuple of (round, site index)
        Hospitals that go offline in a round after sharing their keys (lessons and tests).
    width : int
        Channels of the SmallCNN.
    accountant : {'prv', 'rdp'}
        For the ε shown when no ledger is kept (ledgers use their own composition).
    seed : int
        Seeds the hospitals' split, the model, batches and noise.
    """

    size: int = 28
    sites: tuple = ()
    n_images: int | None = None
    rounds: int = 20
    local_steps: int = 10
    batch_size: int = 32
    lr: float = 0.05
    server_lr: float = 1.0
    noise_multiplier: float | None = None
    max_grad_norm: float = 1.0
    delta: float = 1e-5
    site_noise_multiplier: float = 0.0
    site_clip: float | None = None
    secure_aggregation: bool = False
    threshold: int | None = None
    dropouts: tuple = ()
    width: int = 16
    accountant: str = "prv"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("size", self.size, SUPPORTED_SIZES)
        # the default () (or None, or []) means the lessons' four hospitals
        default = self.sites is None or (isinstance(self.sites, (tuple, list)) and not self.sites)
        object.__setattr__(self, "sites", default_sites(4) if default else check_sites(self.sites))
        if self.n_images is not None:
            check_int("n_images", self.n_images, low=4 * len(self.sites))
        check_int("rounds", self.rounds, low=1, high=1000)
        check_int("local_steps", self.local_steps, low=1, high=1000)
        check_int("batch_size", self.batch_size, low=1)
        check_positive("lr", self.lr)
        check_positive("server_lr", self.server_lr)
        if self.noise_multiplier is not None:
            check_positive("noise_multiplier", self.noise_multiplier,
                           hint="Leave it as None for hospitals that train without DP-SGD.")
        check_positive("max_grad_norm", self.max_grad_norm)
        check_open_unit("delta", self.delta)
        check_real("site_noise_multiplier", self.site_noise_multiplier, low=0.0,
                   hint="0 turns site-level DP off.")
        if self.site_clip is not None:
            check_positive("site_clip", self.site_clip)
        if self.site_noise_multiplier > 0 and self.site_clip is None:
            raise InvalidParameterError(
                f"`site_noise_multiplier` = {self.site_noise_multiplier} needs a `site_clip`: the "
                f"server's noise is scaled to the clipping norm (z·S). Set site_clip (e.g. 1.0).")
        check_choice("secure_aggregation", self.secure_aggregation, (True, False))
        if self.threshold is not None:
            check_int("threshold", self.threshold, low=2, high=len(self.sites),
                      hint="At least 2 shares, at most one per hospital.")
        drops = []
        if isinstance(self.dropouts, (str, bytes)) or not isinstance(self.dropouts, Iterable):
            raise InvalidParameterError(
                f"`dropouts` must be a sequence of (round, site index) pairs, or () for none; "
                f"got {self.dropouts!r:.60}.")
        for item in self.dropouts:
            try:
                r, k = item
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"`dropouts` must hold (round, site index) pairs; got {item!r}.") from None
            drops.append((check_int("dropout round", r, low=1, high=self.rounds),
                          check_int("dropout site", k, low=0, high=len(self.sites) - 1)))
        object.__setattr__(self, "dropouts", tuple(sorted(set(drops))))
        check_int("width", self.width, low=4, high=256)
        check_choice("accountant", self.accountant, ACCOUNTANTS)
        check_int("seed", self.seed, low=0)

    # ------------------------------------------------------------------ derived
    @property
    def private(self) -> bool:
        """True when hospitals train with example-level DP-SGD."""
        return self.noise_multiplier is not None

    @property
    def site_private(self) -> bool:
        """True when the server adds site-level DP noise (DP-FedAvg)."""
        return self.site_noise_multiplier > 0

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def local_config(self) -> TrainConfig:
        """The training settings every hospital uses locally (the project's one training path:
        :func:`~medpriv_widgets.training.loop.build_model`, ``make_private``, ``logical_step``)."""
        return TrainConfig(size=self.size, batch_size=self.batch_size, lr=self.lr,
                           optimizer="sgd", noise_multiplier=self.noise_multiplier,
                           max_grad_norm=self.max_grad_norm, delta=self.delta, seed=self.seed,
                           width=self.width, accountant=self.accountant, augment=False, ema=0.0,
                           standardize=True, zero_head=True, val_fraction=0.0)

    def dropped_in(self, round_: int) -> set[int]:
        return {k for r, k in self.dropouts if r == round_}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sites"] = [asdict(s) for s in self.sites]
        d["dropouts"] = [list(x) for x in self.dropouts]
        return d

    def with_(self, **changes) -> "FederationSettings":
        return replace(self, **changes)


def fast_settings(**changes) -> FederationSettings:
    """Small settings for CI and MEDPRIV_FAST lessons: 28 px, 3 hospitals, 600 X-rays, 6 rounds."""
    base = dict(size=28, sites=default_sites(3), n_images=600, rounds=6, local_steps=8,
                batch_size=16)
    base.update(changes)
    return FederationSettings(**base)


__all__ = ["FederationSettings", "SiteSpec", "fast_settings"]

