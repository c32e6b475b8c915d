"""can_memorize / n_parameters: the capacity gate between weights + ELR and plain CE."""

from __future__ import annotations

import pytest

from mislabel.exceptions import InvalidParameterError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from mislabel.train import can_memorize, n_parameters  # noqa: E402


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def test_counts_trainable_parameters_of_a_module_or_a_factory() -> None:
    assert n_parameters(nn.Linear(384, 2)) == 384 * 2 + 2
    assert n_parameters(_mlp) == 784 * 256 + 256 + 256 * 10 + 10
    frozen = _mlp()
    frozen[0].requires_grad_(False)  # a frozen backbone does not memorise
    assert n_parameters(frozen) == 256 * 10 + 10


def test_a_linear_head_on_embeddings_cannot_memorise_a_network_can() -> None:
    # RT-snippets: 770 parameters for 7,317 training texts
    assert not can_memorize(nn.Linear(384, 2), n_samples=7_317)
    # the Fashion-MNIST MLP: 203,530 parameters for 30,000 images
    assert can_memorize(_mlp, n_samples=30_000)
    # the boundary: as many parameters as samples counts as able to memorise
    assert can_memorize(nn.Linear(9, 1), n_samples=10)
    assert not can_memorize(nn.Linear(9, 1), n_samples=11)


def test_the_factory_is_not_trained_and_the_callers_rng_is_untouched() -> None:
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    can_memorize(_mlp, n_samples=10)
    assert torch.equal(torch.rand(3), before)


@pytest.mark.parametrize(
    ("model", "n", "match"),
    [
        (nn.Linear(3, 2), 0, "n_samples"),
        (nn.Linear(3, 2), 2.5, "n_samples"),
        ("mlp", 10, "model"),
        (lambda: "not a module", 10, "model"),
        (nn.LazyLinear(2), 10, "lazy"),
    ],
)
def test_bad_input_names_the_argument(model: object, n: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        can_memorize(model, n)  # type: ignore[arg-type]


def _digits() -> tuple[object, object]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype("float32"), y


def test_elr_on_a_model_that_cannot_memorise_warns_with_the_numbers() -> None:
    from mislabel.train import train_weighted

    X, y = _digits()  # 1,797 samples
    ones = [1.0] * len(y)
    common = {"epochs": 1, "progress": False, "random_state": 0}
    with pytest.warns(UserWarning, match=r"650 trainable parameters for 1,797 training samples"):
        train_weighted(nn.Linear(64, 10), X, y, ones, loss="elr", **common)
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        train_weighted(nn.Linear(64, 10), X, y, ones, loss="ce", **common)  # not ELR
        wide = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))  # 4,810
        train_weighted(wide, X, y, ones, loss="elr", **common)
    assert not [w for w in seen if "cannot memorise" in str(w.message)]
