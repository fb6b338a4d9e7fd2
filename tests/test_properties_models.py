"""Models and evaluate with generated images (issue 15, item 8): a sentence or probabilities.

Any tensor — wrong size, channels first or last, uint8 or float64, NaN or infinite pixels, a
missing batch dimension — makes the model (and ``predict_proba``) answer with
InvalidParameterError naming ``images`` and what to do, or with one finite probability per image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.models import make_model
from medpriv_widgets.models.lenet import make_lenet
from medpriv_widgets.training.evaluate import predict_proba

PROPS = settings(database=None, deadline=None, max_examples=60,
                 suppress_health_check=[HealthCheck.too_slow])
MODELS = {"cnn": make_model(size=28, width=4), "lenet": make_lenet(size=28, width=2)}

shapes = st.one_of(
    st.tuples(st.integers(0, 3), st.sampled_from([1, 3, 4]), st.sampled_from([27, 28, 64]),
              st.sampled_from([28, 64])),
    st.tuples(st.integers(1, 3), st.just(28), st.just(28), st.sampled_from([1, 3])),
    st.tuples(st.sampled_from([1, 28]), st.just(28), st.just(28)),
    st.tuples(st.just(28), st.just(28)))
dtypes = st.sampled_from([torch.float32, torch.float64, torch.uint8, torch.int64, torch.float16])
poison = st.sampled_from([None, float("nan"), float("inf"), -float("inf")])


@PROPS
@given(st.sampled_from(sorted(MODELS)), shapes, dtypes, poison)
def test_any_image_tensor_gets_probabilities_or_a_sentence(name, shape, dtype, bad):
    x = torch.rand(shape) if dtype.is_floating_point else torch.randint(0, 255, shape)
    x = x.to(dtype)
    if bad is not None and dtype.is_floating_point and x.numel():
        x.view(-1)[0] = bad
    ok = (len(shape) == 4 and shape[1:] == (1, 28, 28) and dtype == torch.float32)
    try:
        probs = predict_proba(MODELS[name], x)
    except InvalidParameterError as exc:
        assert "`images`" in str(exc) and str(exc).endswith(".")
        assert not ok or bad is not None
        return
    assert ok and bad is None
    assert probs.shape == (shape[0],) and np.isfinite(probs).all()
    assert ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_refuses_layout_but_not_a_nan_an_attack_may_handle(name):
    model = MODELS[name]
    with pytest.raises(InvalidParameterError, match="uint8"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(InvalidParameterError, match="make_model\\(size=64\\)"):
        model(torch.rand(2, 1, 64, 64))
    out = model(torch.full((1, 1, 28, 28), float("nan")))  # forward: layout only, no sync
    assert out.shape == (1, 2)
