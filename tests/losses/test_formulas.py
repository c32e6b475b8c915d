"""Each loss against a direct, deliberately naive transcription of its paper's equation.

The transcriptions build one-hot targets, probabilities and explicit sums in float64 and let
autograd differentiate them; they share no code with :mod:`mislabel.losses`. Values and
gradients of the unreduced loss are compared on small random tensors.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import mislabel.losses as ml  # noqa: E402

N, K = 9, 4


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(N, K, generator=g, dtype=torch.float64) * 2
    target = torch.randint(0, K, (N,), generator=g)
    return logits, target


def _softmax(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def _one_hot(target, k=K):
    return torch.eye(k, dtype=torch.float64)[target]


def _compare(ours, reference, logits, target, **kw):
    """Same per-sample values and the same gradient of their sum."""
    z1 = logits.clone().requires_grad_(True)
    z2 = logits.clone().requires_grad_(True)
    got = ours(z1, target, reduction="none", **kw)
    want = reference(z2, target)
    torch.testing.assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad)


# ------------------------------------------------------------------------------ GCE family


@pytest.mark.parametrize("q", [0.1, 0.7, 1.0])
def test_gce_eq6(q, case) -> None:
    # Zhang & Sabuncu 2018, the L_q loss: L_q(f(x), e_j) = (1 - f_j(x)^q) / q
    def ref(z, y):
        p = _softmax(z)
        return (1 - (p * _one_hot(y)).sum(1) ** q) / q

    _compare(ml.generalized_cross_entropy, ref, *case, q=q)


@pytest.mark.parametrize(("q", "k"), [(0.7, 0.5), (0.4, 0.2)])
def test_truncated_gce_matches_the_authors_code(q, k, case) -> None:
    # TruncatedLoss of github.com/AlanChou/Truncated-Loss, transcribed:
    #   loss = ((1 - Yg**q) / q) * weight[idx] - ((1 - k**q) / q) * weight[idx];  mean
    #   update_weight: weight[idx] = (Lq(k) > Lq(Yg))
    logits, target = case
    idx = torch.arange(N) * 2
    weight = torch.ones(2 * N, 1, dtype=torch.float64)

    def ref_update(z, y):
        yg = _softmax(z).gather(1, y[:, None])
        lq = (1 - yg**q) / q
        lqk = torch.full_like(lq, (1 - k**q) / q)
        weight[idx] = (lqk > lq).double()

    def ref(z, y):
        yg = _softmax(z).gather(1, y[:, None])
        return (((1 - yg**q) / q) * weight[idx] - ((1 - k**q) / q) * weight[idx]).squeeze(1)

    loss = ml.TruncatedGCELoss(n_samples=2 * N, q=q, k=k, reduction="none").double()
    before = logits.roll(1, 0)  # the weights come from an earlier state of the model
    loss.update_weights(before, target, idx)
    ref_update(before, target)
    torch.testing.assert_close(loss.pruning_weights[idx], weight[idx].squeeze(1))
    assert 0 < int(loss.pruning_weights[idx].sum()) < N  # some pruned, some kept

    def ours(z, y, reduction):
        loss.reduction = reduction
        return loss(z, y, index=idx)

    _compare(ours, ref, logits, target)
    # mean over every sample, pruned ones included, as torch.mean in the authors' code
    loss.reduction = "mean"
    torch.testing.assert_close(loss(logits, target, index=idx), ref(logits, target).mean())


def test_truncated_gce_without_weights_is_the_truncated_loss(case) -> None:
    # L_trunc = L_q(k) if f_j(x) <= k else L_q(f_j(x)); the loss is L_trunc - L_q(k)
    q, k = 0.7, 0.3

    def ref(z, y):
        py = (_softmax(z) * _one_hot(y)).sum(1)
        lq = (1 - py**q) / q
        lqk = (1 - k**q) / q
        return torch.where(py <= k, torch.full_like(lq, lqk), lq) - lqk

    _compare(ml.truncated_gce_loss, ref, *case, q=q, k=k)


# ------------------------------------------------------------------------- symmetric losses


def _rce_ref(z, y, a):
    # Wang et al. 2019: RCE = -sum_k p_k log q_k, q one-hot, log 0 := A
    p = _softmax(z)
    q = _one_hot(y)
    log_q = torch.where(q > 0, torch.log(q.clamp_min(1e-300)), torch.full_like(q, a))
    return -(p * log_q).sum(1)


def _ce_ref(z, y):
    return -(_one_hot(y) * torch.log(_softmax(z))).sum(1)


def _nce_ref(z, y):
    # Ma et al. 2020: NCE = -sum_k q_k log p_k / -sum_j sum_k q(y=j)_k log p_k
    logp = torch.log(_softmax(z))
    num = -(_one_hot(y) * logp).sum(1)
    den = torch.stack([-(_one_hot(torch.full_like(y, j)) * logp).sum(1) for j in range(K)])
    return num / den.sum(0)


def _mae_ref(z, y):
    # Ghosh et al. 2017: ||e_y - p||_1
    return (_one_hot(y) - _softmax(z)).abs().sum(1)


@pytest.mark.parametrize(("alpha", "beta", "a"), [(0.1, 1.0, -4.0), (1.0, 0.5, math.log(1e-4))])
def test_sce_eq5(alpha, beta, a, case) -> None:
    def ref(z, y):
        return alpha * _ce_ref(z, y) + beta * _rce_ref(z, y, a)

    _compare(ml.symmetric_cross_entropy, ref, *case, alpha=alpha, beta=beta, log_zero=a)


def test_rce(case) -> None:
    _compare(ml.reverse_cross_entropy, lambda z, y: _rce_ref(z, y, -4.0), *case)


def test_mae(case) -> None:
    _compare(ml.mean_absolute_error, _mae_ref, *case)


def test_nce(case) -> None:
    _compare(ml.normalized_cross_entropy, _nce_ref, *case)


def test_nce_rce(case) -> None:
    def ref(z, y):
        return 2.0 * _nce_ref(z, y) + 0.5 * _rce_ref(z, y, -4.0)

    _compare(ml.nce_rce_loss, ref, *case, alpha=2.0, beta=0.5)


def test_nce_mae(case) -> None:
    def ref(z, y):
        return 3.0 * _nce_ref(z, y) + 0.25 * _mae_ref(z, y)

    _compare(ml.nce_mae_loss, ref, *case, alpha=3.0, beta=0.25)


@pytest.mark.parametrize("order", [1, 2, 6])
def test_taylor_ce_eq6(order, case) -> None:
    # Feng et al. 2020: sum_{i=1}^t (1 - f_y(x))^i / i
    def ref(z, y):
        py = (_softmax(z) * _one_hot(y)).sum(1)
        return sum((1 - py) ** i / i for i in range(1, order + 1))

    _compare(ml.taylor_cross_entropy, ref, *case, order=order)


# ---------------------------------------------------------------------------- bootstrapping


@pytest.mark.parametrize("beta", [0.95, 0.5])
def test_soft_bootstrap(beta, case) -> None:
    # Reed et al. 2015: -sum_k [beta t_k + (1 - beta) q_k] log q_k, q = softmax (not detached)
    def ref(z, y):
        q = _softmax(z)
        return -((beta * _one_hot(y) + (1 - beta) * q) * torch.log(q)).sum(1)

    _compare(ml.soft_bootstrap_cross_entropy, ref, *case, beta=beta)


@pytest.mark.parametrize("beta", [0.8, 0.3])
def test_hard_bootstrap(beta, case) -> None:
    # Reed et al. 2015: -sum_k [beta t_k + (1 - beta) z_k] log q_k, z_k = 1[k = argmax q]
    def ref(z, y):
        q = _softmax(z)
        zhat = _one_hot(q.argmax(1))
        return -((beta * _one_hot(y) + (1 - beta) * zhat) * torch.log(q)).sum(1)

    _compare(ml.hard_bootstrap_cross_entropy, ref, *case, beta=beta)


def test_hard_bootstrap_breaks_ties_like_argmax() -> None:
    logits = torch.zeros(3, K, dtype=torch.float64)
    logits[1, [1, 3]] = 2.0  # a tie between classes 1 and 3
    target = torch.tensor([2, 0, 3])

    def ref(z, y):
        q = _softmax(z)
        zhat = _one_hot(q.argmax(1))  # first maximal index
        return -((0.5 * _one_hot(y) + 0.5 * zhat) * torch.log(q)).sum(1)

    _compare(ml.hard_bootstrap_cross_entropy, ref, logits, target, beta=0.5)


# ----------------------------------------------------------------------------- smoothing


def test_label_smoothing_vector(case) -> None:
    eps = torch.tensor([0.0, 0.3, 0.1, 0.5], dtype=torch.float64)

    def ref(z, y):
        q = (1 - eps[y])[:, None] * _one_hot(y) + eps[y][:, None] / K
        return -(q * torch.log(_softmax(z))).sum(1)

    _compare(ml.label_smoothing_cross_entropy, ref, *case, smoothing=eps)


def test_label_smoothing_matrix_is_directional(case) -> None:
    # "yellow" (2) is smoothed toward "green" (1), and not the reverse
    m = torch.eye(K, dtype=torch.float64)
    m[2] = torch.tensor([0.0, 0.25, 0.75, 0.0], dtype=torch.float64)

    def ref(z, y):
        return -(m[y] * torch.log(_softmax(z))).sum(1)

    _compare(ml.label_smoothing_cross_entropy, ref, *case, smoothing=m)
    logits = torch.zeros(2, K, dtype=torch.float64)
    logits[:, 1] = 3.0  # confident "green"
    per = ml.label_smoothing_cross_entropy(
        logits, torch.tensor([2, 1]), smoothing=m, reduction="none"
    )
    plain = ml.cross_entropy(logits, torch.tensor([2, 1]), reduction="none")
    assert per[0] < plain[0]  # a "yellow" label costs less when the model says green
    torch.testing.assert_close(per[1], plain[1])  # a "green" label is not smoothed


# ---------------------------------------------------------------------------- corrections


def _noise_matrix():
    # rows = true class, columns = observed label; class 0 often observed as 1
    return torch.tensor(
        [
            [0.6, 0.4, 0.0, 0.0],
            [0.1, 0.9, 0.0, 0.0],
            [0.0, 0.0, 0.8, 0.2],
            [0.05, 0.05, 0.1, 0.8],
        ],
        dtype=torch.float64,
    )


def test_forward_correction(case) -> None:
    # Patrini et al. 2017: l(T^T h(x)), i.e. -log (softmax(z) @ T)[y]
    T = _noise_matrix()

    def ref(z, y):
        return -torch.log((_softmax(z) @ T).gather(1, y[:, None]).squeeze(1))

    _compare(ml.forward_corrected_cross_entropy, ref, *case, noise_matrix=T)


def test_backward_correction(case) -> None:
    # Patrini et al. 2017: l_<-(p, y) = [T^{-1} l(p)]_y with l(p) = (l(p, e_1), ..., l(p, e_K))
    T = _noise_matrix()

    def ref(z, y):
        ell = torch.stack([_ce_ref(z, torch.full_like(y, j)) for j in range(K)], dim=1)
        return (torch.linalg.inv(T) @ ell.T).T.gather(1, y[:, None]).squeeze(1)

    _compare(ml.backward_corrected_cross_entropy, ref, *case, noise_matrix=T)


def test_backward_correction_is_unbiased() -> None:
    # E over the noisy label of the corrected loss = the clean loss, for every true class
    T = _noise_matrix()
    z = torch.randn(1, K, dtype=torch.float64)
    for true in range(K):
        expected = sum(
            T[true, j]
            * ml.backward_corrected_cross_entropy(z, torch.tensor([j]), T, reduction="sum")
            for j in range(K)
        )
        torch.testing.assert_close(expected, ml.cross_entropy(z, torch.tensor([true])))


def test_noise_estimate_object_is_accepted(case) -> None:
    class Estimate:  # what mislabel.estimate_noise returns, as far as the loss cares
        noise_matrix = _noise_matrix().numpy()

    logits, target = case
    torch.testing.assert_close(
        ml.ForwardCorrectionLoss(Estimate()).double()(logits, target),
        ml.forward_corrected_cross_entropy(logits, target, _noise_matrix()),
    )


# ----------------------------------------------------------------------------- weighting


def test_weighted_ce(case) -> None:
    logits, target = case
    s = torch.rand(N, dtype=torch.float64)
    w = torch.rand(K, dtype=torch.float64) + 0.5

    def ref(z, y):
        return s * w[y] * _ce_ref(z, y)

    _compare(ml.weighted_cross_entropy, ref, logits, target, sample_weight=s, weight=w)
    got = ml.weighted_cross_entropy(logits, target, s, weight=w)
    torch.testing.assert_close(
        got, (s * w[target] * _ce_ref(logits, target)).sum() / (s * w[target]).sum()
    )


# ------------------------------------------------------------------------------------- ELR


class _OfficialELR:
    """elr_loss of github.com/shengliu66/ELR (ELR/loss.py), transcribed for the CPU."""

    def __init__(self, num_examp, num_classes, beta, lam):
        self.target = torch.zeros(num_examp, num_classes, dtype=torch.float64)
        self.beta, self.lam = beta, lam

    def __call__(self, index, output, label):
        y_pred = torch.softmax(output, dim=1)
        y_pred = torch.clamp(y_pred, 1e-4, 1.0 - 1e-4)
        y_pred_ = y_pred.data.detach()
        self.target[index] = self.beta * self.target[index] + (1 - self.beta) * (
            (y_pred_) / (y_pred_).sum(dim=1, keepdim=True)
        )
        ce_loss = torch.nn.functional.cross_entropy(output, label)
        elr_reg = ((1 - (self.target[index] * y_pred).sum(dim=1)).log()).mean()
        return ce_loss + self.lam * elr_reg


def test_elr_matches_the_authors_code_over_several_steps() -> None:
    g = torch.Generator().manual_seed(3)
    n_samples, beta, lam = 3 * N, 0.7, 3.0
    official = _OfficialELR(n_samples, K, beta, lam)
    ours = ml.ELRLoss(n_samples=n_samples, n_classes=K, beta=beta, lam=lam).double()
    target_all = torch.randint(0, K, (n_samples,), generator=g)
    for step in range(4):
        idx = torch.randperm(n_samples, generator=g)[:N]
        logits = torch.randn(N, K, generator=g, dtype=torch.float64) * (1 + step)
        logits[0, 0] = 15.0  # probabilities beyond both ends of the clamp, to check its
        logits[1, 1] = -15.0  # gradient there too
        z1 = logits.clone().requires_grad_(True)
        z2 = logits.clone().requires_grad_(True)
        got = ours(z1, target_all[idx], index=idx)
        want = official(idx, z2, target_all[idx])
        torch.testing.assert_close(got, want)
        got.backward()
        want.backward()
        torch.testing.assert_close(z1.grad, z2.grad)
        torch.testing.assert_close(ours.ema_target, official.target)
