"""One suite over every registered loss: reductions, gradients, CE limits, errors, buffers."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import mislabel  # noqa: E402
import mislabel.losses as ml  # noqa: E402
from mislabel.exceptions import (  # noqa: E402
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
)

N, K = 12, 5
REQUIRED = {
    "ce", "label_smoothing", "gce", "truncated_gce", "sce", "nce", "rce", "mae", "nce_rce",
    "nce_mae", "taylor_ce", "bootstrap_soft", "bootstrap_hard", "forward_correction",
    "backward_correction", "weighted_ce", "elr",
}  # fmt: skip
CASES = [*ml.available(), "label_smoothing[vector]", "label_smoothing[matrix]"]


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(N, K, generator=g, dtype=torch.float64) * 2
    target = torch.randint(0, K, (N,), generator=g)
    target[[2, 7]] = -100
    weight = torch.rand(K, generator=g, dtype=torch.float64) + 0.5
    index = torch.randperm(N, generator=g)
    return logits, target, weight, index


def _call(loss, logits, target, index, **kw):
    """Run ``loss``; ELR, whose forward updates its state, on a copy so each call starts alike."""
    if hasattr(loss, "ema_target"):
        loss = copy.deepcopy(loss)
    extra = {"index": index} if loss.takes_index else {}
    return loss(logits, target, **extra, **kw)


def test_registry_has_the_required_names() -> None:
    assert set(ml.available()) >= REQUIRED
    assert ml.available() == sorted(ml.available())
    for name in ml.available():
        assert issubclass(ml.get_class(name), ml.LossBase)


def test_registry_refuses_a_name_twice_and_unknown_names() -> None:
    with pytest.raises(InvalidParameterError, match="already registered to GCELoss"):
        ml.register("gce")(type("Other", (ml.LossBase,), {}))
    with pytest.raises(InvalidParameterError, match="Did you mean 'gce'"):
        ml.get("gcee")
    with pytest.raises(InvalidParameterError, match="cannot take these arguments"):
        ml.get("gce", alpha=1.0)
    with pytest.raises(InvalidParameterError, match="lower-case identifier"):
        ml.register("Not A Name")


@pytest.mark.parametrize("case", CASES)
def test_reductions_agree(case, data, loss_factory) -> None:
    logits, target, weight, index = data
    loss = loss_factory(case, n_samples=N, n_classes=K, weight=weight).double()
    loss.reduction = "none"
    per = _call(loss, logits, target, index)
    assert per.shape == (N,)
    assert torch.all(per[target == -100] == 0)
    loss.reduction = "sum"
    total = _call(loss, logits, target, index)
    torch.testing.assert_close(total, per.sum())
    loss.reduction = "mean"
    mean = _call(loss, logits, target, index)
    denom = torch.where(target == -100, 0.0, weight[target.clamp(min=0)])
    if case == "weighted_ce":
        denom = denom * loss.sample_weights.double()[index]
    torch.testing.assert_close(mean, per.sum() / denom.sum())


@pytest.mark.parametrize("weighted", [True, False], ids=["weight+ignored", "plain"])
@pytest.mark.parametrize("case", CASES)
def test_gradcheck_float64(case, weighted, data, loss_factory) -> None:
    # "plain", no weight and nothing ignored: the mean or sum that the dense losses fold into
    # the gradient they compute in the forward (_base._ReducedGrad)
    logits, target, weight, index = data
    if not weighted:
        target, weight = target.clamp(min=0), None
    loss = loss_factory(case, n_samples=N, n_classes=K, weight=weight).double()
    z = logits.clone().requires_grad_(True)

    def f(z):
        if case == "elr":
            # ELR's targets are a detached running average of the predictions: finite
            # differences would see them move with z. Check the gradient at fixed targets
            # (the same kernel, without the update); test_formulas checks the update.
            ema = torch.softmax(logits.flip(0), 1)
            return ml.elr_loss(
                z, target, ema, lam=loss.lam, weight=weight, reduction=loss.reduction
            )
        return _call(loss, z, target, index)

    for reduction in ("mean", "none") if weighted else ("mean", "sum"):
        loss.reduction = reduction
        assert torch.autograd.gradcheck(f, (z,))


@pytest.mark.parametrize("case", CASES)
def test_plain_mean_and_sum_match_the_per_sample_losses(case, data, loss_factory) -> None:
    logits, target, _, index = data
    target = target.clamp(min=0)  # nothing ignored, no weight: the fused path
    loss = loss_factory(case, n_samples=N, n_classes=K).double()
    for reduction in ("mean", "sum"):
        loss.reduction = reduction
        z1 = logits.clone().requires_grad_(True)
        z2 = logits.clone().requires_grad_(True)
        got = _call(loss, z1, target, index)
        loss.reduction = "none"
        per = _call(loss, z2, target, index)
        want = per.sum()
        if reduction == "mean":  # weighted_ce: the mean weighted by its sample weights
            sw = loss.sample_weights.double()[index] if case == "weighted_ce" else None
            want = want / (N if sw is None else sw.sum())
        torch.testing.assert_close(got, want)
        got.backward()
        want.backward()
        torch.testing.assert_close(z1.grad, z2.grad)


@pytest.mark.parametrize("case", CASES)
def test_gradient_handed_to_autograd_stays_right_when_reused(case, data, loss_factory) -> None:
    # The fused path gives its saved gradient itself to `.grad` (no copy) when the incoming
    # gradient is 1; retained graphs, scaled outputs and torch.autograd.grad must not notice.
    logits, target, _, index = data
    target = target.clamp(min=0)
    loss = loss_factory(case, n_samples=N, n_classes=K).double()
    z0 = logits.clone().requires_grad_(True)
    _call(loss, z0, target, index).backward()
    want = z0.grad
    z = logits.clone().requires_grad_(True)
    out = _call(loss, z, target, index)
    out.backward(retain_graph=True)
    torch.testing.assert_close(z.grad, want)
    out.backward(retain_graph=True)
    (3 * out).backward(retain_graph=True)
    torch.testing.assert_close(z.grad, 5 * want)
    (g1,) = torch.autograd.grad(out, z, retain_graph=True)
    (g2,) = torch.autograd.grad(out, z, retain_graph=True)
    torch.testing.assert_close(g1, want)
    torch.testing.assert_close(g2, want)
    torch.testing.assert_close(z.grad, 5 * want)
    g1.zero_()  # a result of autograd.grad changed in place: never a silently wrong gradient
    if type(out.grad_fn).__name__ == "_ReducedGradBackward":
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            torch.autograd.grad(out, z)
    else:
        torch.testing.assert_close(torch.autograd.grad(out, z)[0], want)


IDENTITY = torch.eye(K, dtype=torch.float64)
CE_LIMITS = [
    ("ce", {}),
    ("gce", {"q": 1e-7}),
    ("sce", {"alpha": 1.0, "beta": 0.0}),
    ("bootstrap_soft", {"beta": 1.0}),
    ("bootstrap_hard", {"beta": 1.0}),
    ("label_smoothing", {"smoothing": 0.0}),
    ("label_smoothing", {"smoothing": torch.zeros(K)}),
    ("label_smoothing", {"smoothing": IDENTITY}),
    ("forward_correction", {"noise_matrix": IDENTITY}),
    ("backward_correction", {"noise_matrix": IDENTITY}),
    ("weighted_ce", {"sample_weights": torch.ones(N)}),
    ("elr", {"lam": 0.0}),
    ("taylor_ce", {"order": 400}),
]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(("name", "kwargs"), CE_LIMITS, ids=lambda v: str(v)[:30])
def test_limits_match_cross_entropy(name, kwargs, reduction, data, loss_factory) -> None:
    logits, target, weight, index = data
    if name == "taylor_ce":
        logits = logits / 4  # the series converges slowly where p_y is tiny
    loss = loss_factory(name, n_samples=N, n_classes=K, weight=weight, **kwargs).double()
    loss.reduction = reduction
    z1 = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    got = _call(loss, z1, target, index)
    want = F.cross_entropy(z2, target, weight=weight, ignore_index=-100, reduction=reduction)
    tol = {"rtol": 1e-5, "atol": 1e-7} if name == "gce" else {}
    torch.testing.assert_close(got, want, **tol)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad, **tol)


@pytest.mark.parametrize("eps", [0.1, 0.35])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_scalar_label_smoothing_matches_pytorch(eps, reduction, data) -> None:
    logits, target, _, _ = data
    got = ml.label_smoothing_cross_entropy(logits, target, smoothing=eps, reduction=reduction)
    want = F.cross_entropy(logits, target, label_smoothing=eps, reduction=reduction)
    torch.testing.assert_close(got, want)


def test_other_ignore_index_and_all_ignored(data) -> None:
    logits, target, weight, _ = data
    t = target.clone()
    t[target == -100] = 3
    for name, kw in [
        ("ce", {}),
        ("bootstrap_soft", {"beta": 1.0}),
        ("forward_correction", {"noise_matrix": IDENTITY}),
    ]:
        loss = ml.get(name, ignore_index=3, weight=weight, **kw).double()
        want = F.cross_entropy(logits, t, weight=weight, ignore_index=3)
        torch.testing.assert_close(loss(logits, t), want)
    everything = torch.full((N,), -100)
    assert torch.isnan(ml.GCELoss()(logits, everything))
    assert torch.isnan(F.cross_entropy(logits, everything))


@pytest.mark.parametrize("case", CASES)
def test_to_and_state_dict_carry_buffers(case, data, loss_factory) -> None:
    logits, target, weight, index = data
    loss = loss_factory(case, n_samples=N, n_classes=K, weight=weight.float())
    buffers = dict(loss.named_buffers())
    assert "weight" in buffers
    assert set(buffers) <= set(loss.state_dict())
    as64 = loss.to(torch.float64)
    assert all(b.dtype == torch.float64 for b in as64.buffers() if b.is_floating_point())
    # a fresh instance takes the state over: same numbers, buffers included
    other = loss_factory(case, n_samples=N, n_classes=K, weight=torch.ones(K)).double()
    if hasattr(other, "pruning_weights"):
        other.pruning_weights.fill_(1.0)
    other.load_state_dict(as64.state_dict())
    torch.testing.assert_close(
        _call(other, logits, target, index), _call(as64, logits, target, index)
    )


@pytest.mark.parametrize("weighted", [True, False], ids=["weight+ignored", "plain"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", CASES)
def test_half_and_bfloat16_run(case, dtype, weighted, data, loss_factory) -> None:
    logits, target, weight, index = data
    if weighted:
        loss = loss_factory(case, n_samples=N, n_classes=K, weight=weight.float())
    else:
        loss, target = loss_factory(case, n_samples=N, n_classes=K), target.clamp(min=0)
    z = logits.to(dtype).requires_grad_(True)
    out = _call(loss, z, target, index)
    out.backward()
    assert out.dtype == dtype and z.grad is not None and z.grad.dtype == dtype
    assert torch.isfinite(out) and torch.isfinite(z.grad).all()
    ref = _call(loss, logits.to(dtype).float(), target, index)
    torch.testing.assert_close(out.float(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("case", CASES)
def test_fastai_hooks_and_reduction_attribute(case, data, loss_factory) -> None:
    logits, _, _, _ = data
    loss = loss_factory(case, n_samples=N, n_classes=K)
    probs = loss.activation(logits)
    torch.testing.assert_close(probs.sum(-1), torch.ones(N, dtype=probs.dtype))
    assert torch.equal(loss.decodes(probs), logits.argmax(-1))
    loss.reduction = "none"
    assert loss.reduction == "none"
    with pytest.raises(InvalidParameterError, match="`reduction` must be one of"):
        loss.reduction = "avg"
    assert loss.reduction == "none"
    assert "reduction='none'" in repr(loss)


@pytest.mark.parametrize("case", CASES)
def test_common_bad_arguments(case, loss_factory) -> None:
    with pytest.raises(InvalidParameterError, match="`reduction` must be one of"):
        loss_factory(case, n_samples=N, n_classes=K, reduction="avg")
    with pytest.raises(InvalidParameterError, match="`ignore_index` must be Integral"):
        loss_factory(case, n_samples=N, n_classes=K, ignore_index=1.5)
    with pytest.raises(InvalidParameterError, match="finite, non-negative class weights"):
        loss_factory(case, n_samples=N, n_classes=K, weight=torch.tensor([1.0, -1.0]))
    with pytest.raises(InvalidParameterError, match="1-D tensor with one weight per class"):
        loss_factory(case, n_samples=N, n_classes=K, weight=torch.ones(2, 2))


@pytest.mark.parametrize("case", CASES)
def test_common_bad_inputs(case, data, loss_factory) -> None:
    logits, target, _, index = data
    loss = loss_factory(case, n_samples=N, n_classes=K).double()
    with pytest.raises(
        InvalidInputError, match=r"`logits` must have shape \(n_samples, n_classes\)"
    ):
        _call(loss, logits[0], target, index)
    with pytest.raises(InvalidInputError, match="`target` must have shape"):
        _call(loss, logits, target[:-1], index)
    with pytest.raises(InvalidInputError, match="integer class indices; got dtype"):
        _call(loss, logits, target.double(), index)
    with pytest.raises(InvalidInputError, match=r"class indices in \[0, 5\)"):
        _call(loss, logits, torch.full((N,), 5), index)
    with pytest.raises(InvalidInputError, match=r"must be a torch\.Tensor"):
        _call(loss, logits.numpy(), target, index)
    weighted = loss_factory(case, n_samples=N, n_classes=K, weight=torch.ones(K + 1))
    with pytest.raises(InvalidInputError, match=r"n_classes = 6 columns to match `weight`"):
        _call(weighted.double(), logits, target, index)


BAD_HPARAMS = [
    ("gce", {"q": 0.0}, "`q` must be > 0"),
    ("gce", {"q": 1.5}, "`q` must be <= 1"),
    ("gce", {"q": "0.7"}, "`q` must be Real"),
    ("truncated_gce", {"k": 1.0}, "`k` must be < 1"),
    ("sce", {"alpha": -1.0}, "`alpha` must be >= 0"),
    ("sce", {"log_zero": 0.0}, "`log_zero` must be < 0"),
    ("nce_rce", {"beta": -0.1}, "`beta` must be >= 0"),
    ("nce_mae", {"alpha": -0.1}, "`alpha` must be >= 0"),
    ("rce", {"log_zero": 2.0}, "`log_zero` must be < 0"),
    ("taylor_ce", {"order": 0}, "`order` must be >= 1"),
    ("taylor_ce", {"order": 2.5}, "`order` must be Integral"),
    ("bootstrap_soft", {"beta": 1.5}, "`beta` must be <= 1"),
    ("bootstrap_hard", {"beta": -0.5}, "`beta` must be >= 0"),
    ("label_smoothing", {"smoothing": 1.2}, "`smoothing` must be <= 1"),
    ("label_smoothing", {"smoothing": torch.tensor([0.1, -0.1])}, "one amount in"),
    ("label_smoothing", {"smoothing": torch.ones(3, 3)}, "row 0 sums to 3"),
    ("label_smoothing", {"smoothing": torch.ones(2, 3) / 3}, r"must be square \(K, K\)"),
    ("forward_correction", {"noise_matrix": torch.ones(2, 3) / 3}, "must be square"),
    ("forward_correction", {"noise_matrix": torch.tensor([[1.2, -0.2], [0, 1]])}, ">= 0"),
    (
        "forward_correction",
        {"noise_matrix": torch.tensor([[0.9, 0.5], [0.1, 0.5]])},
        "did you pass the transpose",
    ),
    ("backward_correction", {"noise_matrix": torch.ones(3, 3) / 3}, "condition number"),
    ("elr", {"beta": 1.0}, "`beta` must be < 1"),
    ("elr", {"lam": -1.0}, "`lam` must be >= 0"),
    ("weighted_ce", {"sample_weights": torch.tensor([1.0, -2.0])}, "finite and non-negative"),
]


@pytest.mark.parametrize(("name", "kwargs", "match"), BAD_HPARAMS, ids=lambda v: str(v)[:30])
def test_bad_hyper_parameters_raise_at_construction(name, kwargs, match, loss_factory) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        loss_factory(name, n_samples=N, n_classes=K, **kwargs)


def test_bad_sizes_raise_at_construction() -> None:
    with pytest.raises(InvalidParameterError, match="`n_samples` must be >= 1"):
        ml.TruncatedGCELoss(n_samples=0)
    with pytest.raises(InvalidParameterError, match="`n_samples` must be Integral"):
        ml.ELRLoss(n_samples=10.0, n_classes=3)
    with pytest.raises(InvalidParameterError, match="`n_classes` must be >= 2"):
        ml.ELRLoss(n_samples=10, n_classes=1)


def test_functional_forms_check_their_arguments(data) -> None:
    logits, target, _, _ = data
    with pytest.raises(InvalidParameterError, match="`q` must be > 0"):
        ml.generalized_cross_entropy(logits, target, q=0.0)
    with pytest.raises(InvalidParameterError, match="`reduction` must be one of"):
        ml.cross_entropy(logits, target, reduction="batchmean")
    with pytest.raises(InvalidParameterError, match="condition number"):
        ml.backward_corrected_cross_entropy(logits, target, torch.ones(K, K) / K)
    with pytest.raises(InvalidInputError, match=r"`sample_weight` must have shape \(12,\)"):
        ml.weighted_cross_entropy(logits, target, torch.ones(3))
    with pytest.raises(InvalidInputError, match="`ema_target` must be a tensor shaped like"):
        ml.elr_loss(logits, target, torch.zeros(3, K))
    with pytest.raises(InvalidInputError, match=r"n_classes = 4 columns to match `noise_matrix`"):
        ml.forward_corrected_cross_entropy(logits, target, torch.eye(4))


# ----------------------------------------------------------------------- index-aware losses


@pytest.mark.parametrize("name", ["elr", "weighted_ce"])
def test_index_is_required_to_train_but_not_to_evaluate(name, data, loss_factory) -> None:
    logits, target, _, _ = data
    loss = loss_factory(name, n_samples=N, n_classes=K).double()
    with pytest.raises(InvalidInputError, match=r"training step|indices of the batch"):
        loss(logits.clone().requires_grad_(True), target)
    with torch.no_grad():
        out = loss(logits.clone().requires_grad_(True), target)
    torch.testing.assert_close(out, F.cross_entropy(logits, target))


def test_bind_index_is_used_once(data, loss_factory) -> None:
    logits, target, _, index = data
    loss = loss_factory("elr", n_samples=N, n_classes=K).double()
    loss.bind_index(index)
    loss(logits.clone().requires_grad_(True), target).backward()
    assert torch.count_nonzero(loss.ema_target.sum(1)) == (target != -100).sum()
    with pytest.raises(InvalidInputError, match="indices of the batch"):
        loss(logits.clone().requires_grad_(True), target)
    with pytest.raises(InvalidInputError, match=r"dataset indices in \[0, n_samples\)"):
        loss(logits, target, index=index + N)


def test_elr_updates_only_rows_it_sees(data, loss_factory) -> None:
    logits, target, _, _ = data
    loss = loss_factory("elr", n_samples=3 * N, n_classes=K).double()
    idx = torch.arange(N) + N
    loss(logits, target, index=idx)
    seen = loss.ema_target.sum(1) > 0
    assert seen[idx[target != -100]].all() and seen.sum() == (target != -100).sum()
    rows = loss.ema_target[idx[target != -100]]
    want = (1 - loss.beta) * torch.softmax(logits[target != -100], 1).clamp(1e-4, 1 - 1e-4)
    torch.testing.assert_close(rows / rows.sum(1, keepdim=True), want / want.sum(1, keepdim=True))


def test_truncated_gce_update_weights(data) -> None:
    logits, target, _, index = data
    loss = ml.TruncatedGCELoss(n_samples=N, k=0.3)
    loss.update_weights(logits, target, index)
    p_y = torch.softmax(logits, 1).gather(1, target.clamp(min=0)[:, None]).squeeze(1)
    keep = target != -100
    assert torch.equal(loss.pruning_weights[index[keep]].bool(), (p_y > 0.3)[keep])
    assert torch.all(loss.pruning_weights[index[~keep]] == 1)  # ignored: untouched
    # without indices the weights come from the current predictions: the same numbers here
    loss.reduction = "none"
    torch.testing.assert_close(loss(logits, target, index=index), loss(logits, target))


def test_weighted_ce_sample_weight_argument_wins(data) -> None:
    logits, target, _, index = data
    loss = ml.WeightedCELoss(sample_weights=torch.rand(N, dtype=torch.float64))
    s = torch.rand(N, dtype=torch.float64)
    torch.testing.assert_close(
        loss(logits, target, index=index, sample_weight=s),
        ml.weighted_cross_entropy(logits, target, s),
    )
    with pytest.raises(InvalidInputError, match="holds no `sample_weights`"):
        ml.WeightedCELoss()(logits, target, index=index)


# ------------------------------------------------------------------------------- numerics


EXACT_LIMITS = [(n, kw) for n, kw in CE_LIMITS if n not in ("gce", "taylor_ce")]  # not limits


@pytest.mark.parametrize(("name", "kwargs"), EXACT_LIMITS, ids=lambda v: str(v)[:30])
def test_limits_stay_exact_for_confident_wrong_predictions(name, kwargs, loss_factory) -> None:
    # p_y underflows in float32 (e^-200); the losses must not go through log(p_y)
    logits = torch.zeros(N, K)
    logits[:, 0] = 200.0
    target = torch.arange(N) % K
    loss = loss_factory(name, n_samples=N, n_classes=K, reduction="none", **kwargs)
    z1 = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    got = _call(loss, z1, target, torch.arange(N))
    want = F.cross_entropy(z2, target, reduction="none")
    torch.testing.assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", CASES)
def test_float32_agrees_with_float64_at_extreme_logits(case, reduction, loss_factory) -> None:
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(N, K, generator=g, dtype=torch.float64) * 60  # gaps of 100s
    target = torch.randint(0, K, (N,), generator=g)
    loss = loss_factory(case, n_samples=N, n_classes=K, reduction=reduction)
    index = torch.arange(N)
    z32 = logits.float().requires_grad_(True)
    z64 = logits.clone().requires_grad_(True)
    got = _call(loss, z32, target, index)
    want = _call(loss.double(), z64, target, index)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-4)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(z32.grad, z64.grad.float(), rtol=1e-5, atol=1e-5)


def test_gce_is_accurate_for_tiny_q() -> None:
    logits = torch.tensor([[30.0, 0.0, -30.0]], dtype=torch.float64)
    target = torch.tensor([0])
    got = ml.generalized_cross_entropy(logits, target, q=1e-12)
    torch.testing.assert_close(got, F.cross_entropy(logits, target), rtol=1e-9, atol=1e-20)


# ------------------------------------------------------------------------------- imports


def _run(code: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(mislabel.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_import_mislabel_does_not_import_torch() -> None:
    res = _run("import sys, mislabel; print('torch' in sys.modules)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_missing_torch_gives_the_extra_to_install() -> None:
    # torch made unimportable the way an environment without it is: no entry in sys.modules
    # (a None entry would also break scipy's own `'torch' in sys.modules` probe)
    res = _run(
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from mislabel.exceptions import MissingDependencyError\n"
        "try:\n    import mislabel.losses\n"
        "except MissingDependencyError as e:\n    print(e.package, e.extra, '|', e)\n"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("torch torch |")
    assert "pip install 'mislabel[torch]'" in res.stdout
    assert issubclass(MissingDependencyError, ImportError)
