"""The ClientApp and ServerApp ``flwr run`` starts: medpriv_widgets' own hospital and server logic."""

from medpriv_widgets.federated.flower import client_app, server_app

__all__ = ["client_app", "server_app"]
