"""Small CNNs: shapes, seeds, Opacus validity, parameter counts as documented."""

from __future__ import annotations

import re

import pytest
import torch
from opacus.validators import ModuleValidator

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.models import SUPPORTED_SIZES, count_parameters, make_model
from medpriv_widgets.models import cnn


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
def test_shapes_and_opacus_validity(size):
    model = make_model(size=size, activation="tanh")
    out = model(torch.rand(3, 1, size, size))
    assert out.shape == (3, 2)
    assert ModuleValidator.validate(model, strict=False) == []


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
def test_documented_parameter_counts(size):
    # the module docstring's table must stay true when the architecture changes
    rows = {int(m.group(1)): int(m.group(2).replace(",", ""))
            for m in re.finditer(r"^(\d+)\s+\d+\s+[\d, ]+?\s+([\d,]+)$", cnn.__doc__, re.M)}
    assert rows[size] == count_parameters(make_model(size=size))


def test_same_seed_same_weights_and_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = make_model(size=28, seed=4), make_model(size=28, seed=4)
    c = make_model(size=28, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


@pytest.mark.parametrize("kw", [{"size": 32}, {"width": 2}, {"activation": "gelu"}, {"seed": -1}])
def test_bad_arguments(kw):
    with pytest.raises(InvalidParameterError):
        make_model(**kw)
