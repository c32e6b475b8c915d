"""The row helpers of the dense kernels: sparse products on the CPU, plain ops elsewhere."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from mislabel.losses import _base  # noqa: E402

N, K, M = 7, 5, 6


@pytest.fixture(params=["sparse", "dense"])
def path(request, monkeypatch):
    """Run each test through the CPU's sparse products and through the plain fallback."""
    if request.param == "dense":
        monkeypatch.setattr(_base, "_sparse_ok", lambda x: False)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_helpers_match_plain_ops(path, dtype) -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(N, K, generator=g, dtype=dtype)
    b = torch.randn(N, K, generator=g, dtype=dtype)
    m = torch.randn(M, K, generator=g, dtype=dtype)
    t = torch.tensor([0, 5, 5, 2, 1, 0, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "beta state" warning reaches the user
        torch.testing.assert_close(_base.row_dot(a, b), (a * b).sum(1))
        torch.testing.assert_close(_base.row_dot_gathered(a, m, t), (a * m[t]).sum(1))
        out = a.clone()
        assert _base.sub_gathered_(out, m, t, 0.25) is out
        torch.testing.assert_close(out, 0.25 * (a - m[t]))
        out = a.clone()
        torch.testing.assert_close(_base.sub_gathered_(out, m, t), a - m[t])


def test_row_helpers_take_empty_batches(path) -> None:
    a = torch.zeros(0, K)
    m = torch.ones(M, K)
    t = torch.zeros(0, dtype=torch.long)
    assert _base.row_dot(a, a).shape == (0,)
    assert _base.row_dot_gathered(a, m, t).shape == (0,)
    assert _base.sub_gathered_(a.clone(), m, t, 0.5).shape == (0, K)


def test_dense_losses_trace_under_torch_compile(loss_factory) -> None:
    # A user's torch.compile around the loss reaches the sparse row helpers (graph breaks are
    # fine; the "eager" backend keeps the test quick, dynamo's tracing is what is checked).
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(N, K, generator=g)
    target = torch.randint(0, K, (N,), generator=g)
    loss = loss_factory("label_smoothing[matrix]", n_samples=N, n_classes=K)
    z1 = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    got = torch.compile(lambda z: loss(z, target), backend="eager")(z1)
    want = loss(z2, target)
    torch.testing.assert_close(got, want)
    got.backward()
    want.backward()
    torch.testing.assert_close(z1.grad, z2.grad)


@pytest.mark.parametrize("case", ["forward_correction", "elr"])
def test_losses_computed_by_blocks_of_rows_agree_with_one_block(
    case, loss_factory, monkeypatch
) -> None:
    from mislabel.losses import correction, elr

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(N, K, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, K, (N,), generator=g)
    index = torch.randperm(N, generator=g)
    results = []
    for nbytes in (1 << 30, 2 * K * 8):  # one block; blocks of two rows (the last one short)
        monkeypatch.setattr(correction, "BLOCK_BYTES", nbytes)
        monkeypatch.setattr(elr, "BLOCK_BYTES", nbytes)
        loss = loss_factory(case, n_samples=N, n_classes=K).double()
        z = logits.clone().requires_grad_(True)
        kw = {"index": index} if loss.takes_index else {}
        out = loss(z, target, **kw)
        out.backward()
        loss.reduction = "none"
        per = loss(logits, target, **kw)
        results.append((out, z.grad, per, dict(loss.named_buffers())))
    (out1, grad1, per1, buf1), (out2, grad2, per2, buf2) = results
    torch.testing.assert_close(out2, out1)
    torch.testing.assert_close(grad2, grad1)
    torch.testing.assert_close(per2, per1)
    for name, value in buf1.items():
        torch.testing.assert_close(buf2[name], value)
