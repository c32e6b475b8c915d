"""ELR's fused C++ kernel against its eager path: the same losses, gradients and EMA buffer.

The kernel is built at first use (once per machine, then loaded from torch's extension
folder). Without a compiler or ninja these tests skip, except on CI (``CI=true``), where a
kernel that does not build fails them.
"""

from __future__ import annotations

import logging
import os
import shutil

import pytest

torch = pytest.importorskip("torch")

import mislabel.losses as ml  # noqa: E402
from mislabel.exceptions import (  # noqa: E402
    InvalidInputError,
    InvalidParameterError,
    MislabelError,
)
from mislabel.losses import _fused, elr  # noqa: E402

#: float64: the two paths run the same arithmetic, up to the order of sums. float32: the
#: loss is a difference (CE + lam * log(1 - s), negative part) and 1 - s cancels when
#: predictions are confident, so the loss gets an absolute tolerance and the gradient one
#: relative to its largest entry.
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
}

#: (n, K, scale of the logits): K = 2; K = 1000; x50 puts most rows on both clamps
#: (largest probability above 1 - 1e-4, most others below 1e-4).
SHAPES = [(33, 2, 1.0), (40, 10, 3.0), (24, 1000, 3.0), (40, 10, 50.0), (16, 1000, 50.0)]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="module", autouse=True)
def fused_kernel():
    """The built kernel; skips without a compiler or ninja, fails on CI or on a broken build."""
    if _fused.elr_op() is not None:
        return
    reason = f"the fused ELR kernel did not build: {_fused.elr_unavailable_reason()}"
    if _on_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    if compiler is None or not torch.utils.cpp_extension.is_ninja_available():
        pytest.skip(f"no C++ compiler or no ninja ({reason}); pip install 'mislabel[fused]'")
    pytest.fail(reason, pytrace=False)


@pytest.fixture(autouse=True)
def _no_switch_from_outside(monkeypatch):
    """The tests of the automatic choice set MISLABEL_NO_FUSED themselves, when they want it."""
    monkeypatch.delenv(_fused.ENV_NO_FUSED, raising=False)


def _refuse_eager(monkeypatch) -> None:
    """Make the eager kernel raise: a loss that still runs took the fused path."""

    def refuse(*args, **kwargs):
        raise AssertionError("the eager ELR kernel ran where the fused one was expected")

    monkeypatch.setattr(elr, "_elr_kernel", refuse)


def _inputs(n, k, scale, dtype, *, seed=0, ignored=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    target = torch.randint(0, k, (n,), generator=g)
    if ignored:
        target[[1, n // 2]] = -100
    index = torch.randperm(2 * n, generator=g)[:n]
    weight = torch.rand(k, generator=g, dtype=torch.float64) + 0.5
    return logits.to(dtype), target, index, weight.to(dtype)


def _run_module(fused, logits, target, index, *, steps=3, n_samples, **kw):
    """Train-like steps with ``ELRLoss(fused=fused)``: the losses, gradients and final EMA."""
    loss = ml.ELRLoss(n_samples=n_samples, n_classes=logits.shape[1], fused=fused, **kw)
    loss = loss.to(logits.dtype)
    outs = []
    for step in range(steps):  # the logits move between steps, so the EMA rows change
        z = (logits + 0.5 * step).requires_grad_(True)
        out = loss(z, target, index=index)
        (out if out.ndim == 0 else out.sum()).backward()
        outs.append((out.detach(), z.grad))
    return outs, loss.ema_target


def _assert_same(got, want, dtype):
    (outs1, ema1), (outs2, ema2) = got, want
    tol = TOL[dtype]
    for (loss1, grad1), (loss2, grad2) in zip(outs1, outs2, strict=True):
        torch.testing.assert_close(loss1, loss2, **tol)
        scale = float(grad2.abs().max())
        torch.testing.assert_close(grad1, grad2, rtol=tol["rtol"], atol=tol["atol"] * scale)
    torch.testing.assert_close(ema1, ema2, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("n", "k", "scale"), SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_module_matches_eager(n, k, scale, reduction, dtype, monkeypatch) -> None:
    logits, target, index, _ = _inputs(n, k, scale, dtype)
    kw = {"reduction": reduction, "n_samples": 2 * n}
    want = _run_module(False, logits, target, index, **kw)
    _refuse_eager(monkeypatch)
    got = _run_module(True, logits, target, index, **kw)
    _assert_same(got, want, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("n", "k", "scale"), [SHAPES[1], SHAPES[3], SHAPES[4]])
def test_fused_module_with_weight_and_ignore_index(n, k, scale, dtype, monkeypatch) -> None:
    logits, target, index, weight = _inputs(n, k, scale, dtype, seed=1, ignored=False)
    target[[0, 3, n - 1]] = -1  # another ignore_index
    kw = {"weight": weight, "ignore_index": -1, "n_samples": 2 * n, "beta": 0.9, "lam": 7.0}
    want = _run_module(False, logits, target, index, **kw)
    _refuse_eager(monkeypatch)
    got = _run_module(True, logits, target, index, **kw)
    _assert_same(got, want, dtype)
    # ignored rows: their EMA rows untouched (zeros), the others written
    seen = got[1][index].abs().sum(1) > 0
    assert torch.equal(seen, target != -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(("n", "k", "scale"), SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_fused_function_matches_eager(n, k, scale, reduction, dtype, monkeypatch) -> None:
    """``elr_loss`` with given targets (no index, no EMA update), class weights, ignored rows."""
    logits, target, _, weight = _inputs(n, k, scale, dtype, seed=2)
    g = torch.Generator().manual_seed(3)
    ema = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * scale, 1)
    ema = ema.to(dtype)
    results = []
    for fused in (False, True):
        if fused:
            _refuse_eager(monkeypatch)
        for w in (None, weight):
            z = logits.clone().requires_grad_(True)
            out = ml.elr_loss(z, target, ema, weight=w, reduction=reduction, fused=fused)
            (out if out.ndim == 0 else out.sum()).backward()
            results.append((out.detach(), z.grad))
    eager, fused_ = results[:2], results[2:]
    _assert_same((fused_, ema), (eager, ema), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_fused_without_grad_updates_the_same_ema(dtype, monkeypatch) -> None:
    """Under ``torch.no_grad()`` with indices: the loss, and the EMA updated all the same."""
    logits, target, index, _ = _inputs(40, 10, 50.0, dtype, seed=4)
    results = []
    for fused in (False, True):
        if fused:
            _refuse_eager(monkeypatch)
        loss = ml.ELRLoss(n_samples=80, n_classes=10, fused=fused, reduction="none").to(dtype)
        with torch.no_grad():
            outs = [loss(logits * (1 + step), target, index=index) for step in range(3)]
        results.append((outs, loss.ema_target))
    (outs1, ema1), (outs2, ema2) = results
    for a, b in zip(outs1, outs2, strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
    torch.testing.assert_close(ema1, ema2, **TOL[dtype])


def test_fused_takes_non_contiguous_logits_and_threads(monkeypatch) -> None:
    logits, target, index, _ = _inputs(64, 30, 3.0, torch.float32, seed=5)
    want = _run_module(False, logits, target, index, n_samples=128)
    _refuse_eager(monkeypatch)
    strided = logits.t().contiguous().t()  # same values, column-major
    assert not strided.is_contiguous()
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got = _run_module(True, strided, target, index, n_samples=128)
            _assert_same(got, want, torch.float32)
    finally:
        torch.set_num_threads(before)


def test_gradcheck_through_the_fused_kernel(monkeypatch) -> None:
    _refuse_eager(monkeypatch)
    logits, target, index, weight = _inputs(6, 4, 2.0, torch.float64, seed=6)
    loss = ml.ELRLoss(n_samples=12, n_classes=4, weight=weight, fused=True).double()
    loss(logits, target, index=index)  # a first step, so the targets are not zero
    ema = loss.ema_target[index].clone()

    def fn(z):  # the regulariser's targets fixed, as in one training step
        return ml.elr_loss(z, target, ema, weight=weight, fused=True)

    assert torch.autograd.gradcheck(fn, (logits.clone().requires_grad_(True),))


# ------------------------------------------------------------------------ choosing a path


def test_automatic_choice_is_the_fused_kernel_on_cpu_float() -> None:
    for dtype in (torch.float32, torch.float64):
        x, ema = torch.zeros(3, 4, dtype=dtype), torch.zeros(5, 4, dtype=dtype)
        assert elr._choose_kernel(x, ema, None) is elr._elr_fused_kernel
        assert elr._choose_kernel(x, ema, True) is elr._elr_fused_kernel
        assert elr._choose_kernel(x, ema, False) is elr._elr_kernel


def test_environment_variable_turns_the_automatic_choice_eager(monkeypatch) -> None:
    x, ema = torch.zeros(3, 4), torch.zeros(5, 4)
    monkeypatch.setenv("MISLABEL_NO_FUSED", "1")
    assert elr._choose_kernel(x, ema, None) is elr._elr_kernel
    assert elr._choose_kernel(x, ema, True) is elr._elr_fused_kernel  # asked for explicitly


def test_unfit_inputs_take_the_eager_path_and_say_why_once(caplog, monkeypatch) -> None:
    monkeypatch.setattr(elr, "_logged", set())
    logits, target, index, _ = _inputs(8, 3, 1.0, torch.float64)
    loss = ml.ELRLoss(n_samples=16, n_classes=3)  # float32 buffer, float64 logits
    with caplog.at_level(logging.INFO, logger="mislabel.losses.elr"):
        loss(logits, target, index=index)
        loss(logits, target, index=index)
    said = [r.getMessage() for r in caplog.records if "eager path" in r.getMessage()]
    assert len(said) == 1 and "dtype" in said[0]
    with pytest.raises(InvalidInputError, match=r"fused=True: .*dtype"):
        ml.ELRLoss(n_samples=16, n_classes=3, fused=True)(logits, target, index=index)


def test_a_kernel_that_did_not_build_falls_back_or_raises(monkeypatch) -> None:
    monkeypatch.setattr(_fused, "elr_op", lambda: None)
    monkeypatch.setattr(_fused, "elr_unavailable_reason", lambda: "no compiler (test)")
    x, ema = torch.zeros(3, 4), torch.zeros(5, 4)
    assert elr._choose_kernel(x, ema, None) is elr._elr_kernel
    with pytest.raises(MislabelError, match=r"could not be built \(no compiler"):
        elr._choose_kernel(x, ema, True)


@pytest.mark.parametrize("bad", [1, "yes", 0.0])
def test_fused_must_be_a_bool_or_none(bad) -> None:
    with pytest.raises(InvalidParameterError, match="`fused` must be True, False or None"):
        ml.ELRLoss(n_samples=4, n_classes=3, fused=bad)
    with pytest.raises(InvalidParameterError, match="`fused` must be True, False or None"):
        ml.elr_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.zeros(2, 3),
                    fused=bad)  # fmt: skip


def test_fused_shows_in_the_repr_only_when_set() -> None:
    assert "fused" not in repr(ml.ELRLoss(n_samples=4, n_classes=3))
    assert "fused=False" in repr(ml.ELRLoss(n_samples=4, n_classes=3, fused=False))


def test_a_lock_left_by_a_killed_build_is_cleared_and_the_kernel_built(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    folder = _fused._build_folder()
    assert folder.parent == tmp_path
    folder.mkdir()
    lock = folder / "lock"  # as a killed build leaves it
    lock.touch()
    os.utime(lock, (0, 0))
    seen = []

    def compile_(build):
        seen.append(lock.exists())
        return "op"

    monkeypatch.setattr(_fused, "_compile", compile_)
    assert _fused._build() == "op"
    assert seen == [False]


def test_a_built_kernel_loads_whatever_lock_file_is_beside_it(monkeypatch) -> None:
    if _fused.elr_op() is None:
        pytest.skip(f"the fused kernel is not available here: {_fused.elr_unavailable_reason()}")
    folder = _fused._build_folder()
    lock = folder / "lock"  # torch >= 2.14 leaves it after a successful build
    lock.touch()
    os.utime(lock, (0, 0))
    try:
        monkeypatch.setattr(_fused, "_compile", lambda build: pytest.fail("rebuilt"))
        assert _fused._build() is not None
    finally:
        lock.unlink(missing_ok=True)
