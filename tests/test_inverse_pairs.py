"""Every invertible stage, both backends, n-dimensional inputs: inverse(forward(x)) == x."""

import numpy as np
import pytest
import torch

from ispsim.stages import STAGES, inverse_pairs

PAIRS = inverse_pairs()


def test_registry_covers_every_invertible_stage():
    invertible = {name for name, spec in STAGES.items() if spec.invertible == "exact"}
    assert invertible == {name.split(".")[0] for name in PAIRS}


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_round_trip(name, lead, backend, rng):
    forward, inverse, kw, channels, _ = PAIRS[name]
    x = (rng.random(lead + (channels, 8, 12)) * 0.8 + 0.05).astype(np.float32)
    xin = torch.from_numpy(x) if backend == "torch" else x
    y = forward(xin, **kw)
    back = inverse(y, **kw)
    assert type(back) is type(xin) and back.dtype == xin.dtype and tuple(back.shape) == x.shape
    np.testing.assert_allclose(np.asarray(back), x, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("name", sorted(n for n, p in PAIRS.items() if p[4]))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_pointwise_stages_keep_nan_local(name, backend, rng):
    forward, inverse, kw, channels, _ = PAIRS[name]
    x = (rng.random((channels, 4, 4)) * 0.8 + 0.1).astype(np.float32)
    x[:, 1, 2] = np.nan
    y = np.asarray(forward(torch.from_numpy(x) if backend == "torch" else x, **kw))
    assert np.isnan(y[:, 1, 2]).all()
    y[:, 1, 2] = 0
    assert np.isfinite(y).all()
