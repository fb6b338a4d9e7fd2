"""The same hospital and server logic as Flower apps, for real multi-site runs (extra ``[flower]``).

Flower (``flwr``) carries the messages between real machines: a SuperLink (the coordinator) and
one SuperNode per hospital. What runs in them is this package's own code:

- :data:`client_app` (a ``flwr.clientapp.ClientApp``), in each hospital: load *its own* X-rays,
  train from the global model with :func:`.site.train_locally` (DP-SGD through the project's
  training stages when ``noise-multiplier`` > 0), weight the change, send it back.
- :data:`server_app` (a ``flwr.serverapp.ServerApp``), on the coordinator: the FedAvg step of
  :func:`.server.aggregate` round after round, then the global model's test metrics (written as
  JSON to ``result-path`` when given).

The app folder that ``flwr run`` ships is ``medpriv_widgets/federated/flower_app`` (its
``pyproject.toml`` names these two objects; :func:`app_dir` returns it). ``import flwr``
happens only when :data:`client_app` or :data:`server_app` is first used, so the package
imports without the extra.

Run configuration (``flwr run … --run-config``): ``num-server-rounds``, ``local-steps``,
``batch-size``, ``lr``, ``noise-multiplier`` (0: not private), ``size``, ``num-sites``,
``n-images`` (0: all), ``seed``, ``data`` ('pneumoniamnist', or 'synthetic' phantoms for
tests), ``result-path``. Node configuration (``flower-supernode --node-config``):
``partition-id`` (which hospital this node is; for the lessons' split) — a real hospital would
instead point its SuperNode at its own data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import InvalidParameterError


def app_dir() -> Path:
    """The Flower app folder to pass to ``flwr run``."""
    return Path(__file__).with_name("flower_app")


def _settings(run_config):
    from .hospitals import default_sites
    from .settings import FederationSettings

    sigma = float(run_config.get("noise-multiplier", 0.0))
    n_images = int(run_config.get("n-images", 0))
    return FederationSettings(
        size=int(run_config.get("size", 28)), sites=default_sites(int(run_config.get("num-sites", 3))),
        n_images=n_images or None, rounds=int(run_config.get("num-server-rounds", 3)),
        local_steps=int(run_config.get("local-steps", 5)),
        batch_size=int(run_config.get("batch-size", 16)), lr=float(run_config.get("lr", 0.05)),
        noise_multiplier=sigma if sigma > 0 else None, seed=int(run_config.get("seed", 0)))


def _data(run_config, split: str):
    from ..data import load_dataset, make_phantoms

    size, seed = int(run_config.get("size", 28)), int(run_config.get("seed", 0))
    if run_config.get("data", "pneumoniamnist") == "synthetic":
        return (make_phantoms(n=600, size=size, seed=seed) if split == "train" else
                make_phantoms(n=200, size=size, seed=seed + 1, split="test", id_start=50_000))
    return load_dataset(size=size, split=split, seed=seed)


def hospital_for(run_config, partition_id: int):
    """The hospital a SuperNode with ``partition-id`` plays (the lessons' seeded split)."""
    from .hospitals import make_hospitals

    s = _settings(run_config)
    hospitals = make_hospitals(_data(run_config, "train"), sites=s.sites, n_images=s.n_images,
                               seed=s.seed)
    if not 0 <= partition_id < len(hospitals):
        raise InvalidParameterError(
            f"`partition-id` must be between 0 and {len(hospitals) - 1} (one per hospital); got "
            f"{partition_id}. Start each SuperNode with --node-config \"partition-id=K\".")
    return hospitals[partition_id]


def _build_client_app():
    import torch
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    from ..device import choose_device
    from ..training.loop import build_model
    from .site import load_flat, train_locally

    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        cfg = context.run_config
        s = _settings(cfg)
        hospital = hospital_for(cfg, int(context.node_config["partition-id"]))
        config = s.local_config()
        model = build_model(config)
        load_flat(model, msg.content["arrays"].to_numpy_ndarrays()[0])
        r = int(msg.content["config"]["round"])
        k = int(context.node_config["partition-id"])
        local = train_locally(global_model=model, images=hospital.data.images,
                              labels=hospital.data.labels, config=config, steps=s.local_steps,
                              seed=s.seed * 1_000_003 + r * 1009 + k, device=choose_device())
        weight = float(hospital.n_images)
        content = RecordDict({
            "arrays": ArrayRecord([(local.delta * weight).astype(np.float64)]),
            "metrics": MetricRecord({"num-examples": hospital.n_images, "weight": weight,
                                     "loss": float(local.loss) if math.isfinite(local.loss) else -1.0,
                                     "steps": local.steps})})
        torch.set_num_threads(torch.get_num_threads())
        return Message(content=content, reply_to=msg)

    return app


def _build_server_app():
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
    from flwr.serverapp import Grid, ServerApp

    from ..training import evaluate
    from ..training.loop import build_model
    from .server import aggregate
    from .site import flatten, load_flat

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        import time

        cfg = context.run_config
        s = _settings(cfg)
        model = build_model(s.local_config()).eval()
        theta = flatten(model)
        want = len(s.sites)
        deadline = time.monotonic() + 120
        nodes = sorted(grid.get_node_ids())
        while len(nodes) < want and time.monotonic() < deadline:
            time.sleep(1.0)
            nodes = sorted(grid.get_node_ids())
        if len(nodes) < want:
            raise RuntimeError(f"Only {len(nodes)} of {want} hospitals (SuperNodes) connected "
                               f"within 120 s; start one SuperNode per hospital.")
        history = []
        for r in range(1, s.rounds + 1):
            messages = [Message(content=RecordDict({
                "arrays": ArrayRecord([theta.astype(np.float64)]),
                "config": ConfigRecord({"round": r})}),
                message_type=MessageType.TRAIN, dst_node_id=nid) for nid in nodes]
            replies = [m for m in grid.send_and_receive(messages, timeout=600)
                       if not m.has_error()]
            contributions, weights = {}, {}
            for i, reply in enumerate(replies):
                contributions[i] = reply.content["arrays"].to_numpy_ndarrays()[0]
                weights[i] = float(reply.content["metrics"]["weight"])
            if len(contributions) < want:
                history.append({"round": r, "abandoned": f"{len(contributions)} of {want} replied"})
                continue
            agg = aggregate(contributions, weights, secure=False, round_id=r)
            theta = theta + s.server_lr * agg.step
            load_flat(model, theta)
            history.append({"round": r, "hospitals": len(contributions)})
        metrics = evaluate(model, _data(cfg, "test"))
        path = str(cfg.get("result-path", ""))
        if path:
            Path(path).write_text(json.dumps({"history": history, "test_metrics": metrics,
                                              "rounds": s.rounds, "sites": want}))

    return app


_BUILDERS = {"client_app": _build_client_app, "server_app": _build_server_app}


def __getattr__(name: str):
    # Flower loads "module:attribute"; building the apps on first use keeps flwr optional.
    if name in _BUILDERS:
        try:
            app = _BUILDERS[name]()
        except ImportError as exc:
            raise ImportError(
                f"medpriv_widgets.federated.flower.{name} needs Flower: "
                f"pip install 'medpriv_widgets[flower]' ({exc}).") from exc
        globals()[name] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app_dir", "hospital_for"]
