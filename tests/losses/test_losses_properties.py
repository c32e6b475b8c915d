"""Property-based fuzzing of every registered loss: construction with drawn settings, forward
on drawn logits and targets. A finite loss with a finite gradient from finite input, or a
library error naming an argument (see fuzz_helpers.py)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_helpers import ODD_SCALARS, fuzz, outcome, setting

torch = pytest.importorskip("torch")

from mislabel.losses._registry import available, get, get_class  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

SETTINGS = {
    "q": st.floats(0.01, 1),
    "k": st.floats(0.01, 0.99),
    "beta": st.floats(0, 0.99),
    "alpha": st.floats(0, 5),
    "lam": st.floats(0, 10),
    "log_zero": st.floats(-10, -0.1),
    "smoothing": st.floats(0, 1),
    "order": st.integers(1, 6),
}
LOSS_ARGS = (
    "logits",
    "target",
    "index",
    "weight",
    "ignore_index",
    "reduction",
    "noise_matrix",
    "sample_weights",
    "n_samples",
    "n_classes",
    "fused",
    *SETTINGS,
)


@st.composite
def loss_cases(draw):
    name = draw(st.sampled_from(available()))
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, 5))
    kwargs = {}
    takes = set(inspect.signature(get_class(name).__init__).parameters)
    for key, strat in SETTINGS.items():
        # mostly the loss's own settings, sometimes one it does not take
        if draw(st.booleans()) and (key in takes or draw(st.integers(0, 9)) == 0):
            kwargs[key] = draw(setting(strat))
    if name in ("elr", "truncated_gce"):
        kwargs["n_samples"] = draw(setting(st.just(n)))
    if name == "elr":
        kwargs["n_classes"] = draw(setting(st.just(k)))
    if name in ("forward_correction", "backward_correction"):
        kind = draw(st.integers(0, 3))
        kwargs["noise_matrix"] = [
            np.eye(max(k, 2)),
            np.full((k, k), 1 / max(k, 1)) * 0.5 + np.eye(k) * 0.5,
            draw(ODD_SCALARS),
            np.eye(max(k, 2)).T * 2,
        ][kind]
    if draw(st.integers(0, 4)) == 0:
        kwargs["reduction"] = draw(setting(st.sampled_from(["mean", "sum", "none"])))
    if draw(st.integers(0, 4)) == 0:
        kwargs["weight"] = draw(st.sampled_from([torch.ones(k), torch.ones(k + 1), -torch.ones(k)]))
    if draw(st.integers(0, 6)) == 0:
        kwargs["ignore_index"] = draw(setting(st.just(-100)))
    seed = draw(st.integers(0, 1000))
    logit_kind = draw(st.sampled_from(["normal", "normal", "large", "nan", "half", "1d"]))
    target_kind = draw(st.sampled_from(["ok", "ok", "ok", "out", "float", "short", "ignored"]))
    return name, n, k, kwargs, seed, logit_kind, target_kind


def _inputs(n, k, seed, logit_kind, target_kind):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64)
    if logit_kind == "large":
        z = z * 1e4
    elif logit_kind == "nan":
        z[0, 0] = float("nan")
    elif logit_kind == "half":
        z = z.half()
    elif logit_kind == "1d":
        z = z[:, 0]
    t = torch.randint(0, k, (n,), generator=g)
    if target_kind == "out":
        t[0] = k
    elif target_kind == "float":
        t = t.double()
    elif target_kind == "short":
        t = t[:-1]
    elif target_kind == "ignored":
        t[0] = -100
    return z.requires_grad_(z.is_floating_point()), t


@fuzz(600, deadline_ms=None)
@given(loss_cases())
def test_every_loss(case):
    name, n, k, kwargs, seed, logit_kind, target_kind = case
    loss = outcome(lambda: get(name, **kwargs), LOSS_ARGS)
    if loss is None:
        return
    z, t = _inputs(n, k, seed, logit_kind, target_kind)
    out = outcome(lambda: loss(z, t), LOSS_ARGS)
    if out is None:
        return
    if logit_kind == "nan":
        return  # NaN in, NaN out is allowed
    if bool((t == kwargs.get("ignore_index", -100)).all()):
        return  # every target ignored: the mean is 0 / 0, NaN, as F.cross_entropy gives
    assert torch.isfinite(out).all(), (name, kwargs, out)
    if out.ndim == 0 and z.requires_grad:
        out.backward()
        assert z.grad is not None and torch.isfinite(z.grad).all(), (name, kwargs)
