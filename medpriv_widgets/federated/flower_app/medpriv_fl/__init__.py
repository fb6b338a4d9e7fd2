"""Flower app of lesson 06: the components live in medpriv_widgets.federated.flower."""
