"""The settings of the robustness suite (``python -m benchmarks.robustness``).

Four kinds, each a :class:`Case` (given labels, probabilities, true labels):

- **simulated**: CIFAR-10 out-of-fold probabilities simulated for new noise
  (:mod:`benchmarks._simulate`): noise 10–70 % × sparsity 0–0.8, class imbalance, pair and
  look-alike swaps, over- / under-confident, weaker and stronger models;
- **trained**: 5-fold out-of-fold probabilities of real models trained on labels noised here:
  a weak and a stronger model on Fashion-MNIST pixels, logistic regression on CIFAR-10
  EfficientNet-Lite0 embeddings (when ``benchmarks/.cache/embed`` holds them), and on the
  MiniLM embeddings of SMS spam and TREC;
- **two-class**: 5-fold out-of-fold probabilities of real models on two-class tasks cut from the
  same data (SMS spam; TREC, Fashion-MNIST and CIFAR-10 embeddings as one class against the
  rest or as pairs of look-alike classes), with symmetric, one-sided and unequal flips;
- **real**: human label errors checked against a second, trusted source: RT-snippets' 289
  crowd-validated errors, CIFAR-10N's human labels against the clean CIFAR-10 labels.

Out-of-fold probabilities are cached in ``benchmarks/.cache/robustness`` (one ``.npz`` a case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import _simulate as sim

CACHE = Path(__file__).resolve().parent / ".cache" / "robustness"
#: Fashion-MNIST look-alikes (T-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker,
#: bag, ankle boot): each class is confused with one other class.
FMNIST_PARTNER = np.array([6, 3, 4, 1, 2, 7, 0, 9, 6, 7])


@dataclass(frozen=True)
class Case:
    kind: str  # "simulated", "trained", "real"
    name: str
    labels: np.ndarray
    pred_probs: np.ndarray
    true_labels: np.ndarray


# --------------------------------------------------------------------------- simulated


def simulated(root: Path, *, n: int | None = None, seed: int = 0) -> Iterator[Case]:
    """The simulated settings, on both clean structures (the ResNet's probabilities with its
    noise undone, and as they are); ``n`` takes a random subset of the 50,000 images."""
    for undo in (True, False):
        tag = "undone" if undo else "as is"
        for case in _simulated(sim.clean_structure(root, undo_noise=undo), n=n, seed=seed):
            yield Case(
                case.kind, f"{case.name} [{tag}]", case.labels, case.pred_probs, case.true_labels
            )


def _simulated(cs: sim.CleanStructure, *, n: int | None, seed: int) -> Iterator[Case]:
    if n is not None:
        keep = np.sort(np.random.default_rng(seed).choice(cs.true_labels.size, n, replace=False))
        cs = sim.CleanStructure(pi=cs.pi[keep], true_labels=cs.true_labels[keep])
    k = cs.pi.shape[1]

    def case(name: str, s: sim.Simulated) -> Case:
        return Case("simulated", name, s.labels, s.pred_probs, s.true_labels)

    for i, noise in enumerate((0.1, 0.2, 0.4, 0.7)):
        for j, sparsity in enumerate((0.0, 0.2, 0.4, 0.6, 0.8)):
            rng = np.random.default_rng(1000 * seed + 10 * i + j)
            t = sim.noise_matrix(k, noise, sparsity, rng)
            yield case(f"noise {noise:.0%}, sparsity {sparsity}", sim.simulate(cs, t, rng))
    rng = np.random.default_rng(1000 * seed + 100)
    for ratio in (5.0, 20.0):
        small = sim.imbalanced(cs, ratio, rng)
        t = sim.noise_matrix(k, 0.3, 0.4, rng)
        yield case(
            f"imbalance {ratio:.0f}:1, noise 30 %, sparsity 0.4", sim.simulate(small, t, rng)
        )
    for noise in (0.2, 0.4):
        t = sim.pair_matrix(sim.CIFAR10_PARTNER, noise)
        yield case(f"pair swaps {noise:.0%}", sim.simulate(cs, t, rng))
    for noise in (0.1, 0.2):
        yield case(
            f"look-alike swaps {noise:.0%} (per image)",
            sim.simulate_lookalike(cs, sim.CIFAR10_PARTNER, noise, rng),
        )
    t = sim.noise_matrix(k, 0.4, 0.6, rng)
    models: list[tuple[str, dict[str, float]]] = [
        ("over-confident (T = 0.5)", {"temperature": 0.5}),
        ("under-confident (T = 2)", {"temperature": 2.0}),
        ("weaker (log-prob noise 1)", {"logit_noise": 1.0}),
        ("over-confident and weaker", {"temperature": 0.5, "logit_noise": 1.0}),
        ("stronger (clean posterior T = 0.5)", {"clean_temperature": 0.5}),
    ]
    for label, kw in models:
        yield case(f"noise 40 %, sparsity 0.6, {label}", sim.simulate(cs, t, rng, **kw))


# --------------------------------------------------------------------------- trained


def _cached(name: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    path = CACHE / f"{name}.npz"
    if path.exists():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    out = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return out


def _from_cache(kind: str, name: str, d: dict[str, np.ndarray]) -> Case:
    return Case(kind, name, d["labels"], d["p"].astype(np.float32), d["true"])


def _noisy(true: np.ndarray, t: np.ndarray, seed: int) -> np.ndarray:
    from mislabel.noise import apply_noise_matrix

    return apply_noise_matrix(true, t, random_state=seed).labels


def _noise_settings(k: int, partner: np.ndarray | None) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out = [
        ("noise 20 %, sparsity 0", sim.noise_matrix(k, 0.2, 0.0, rng)),
        ("noise 40 %, sparsity 0.6", sim.noise_matrix(k, 0.4, 0.6, rng)),
    ]
    if partner is not None:
        out.append(("pair swaps 30 %", sim.pair_matrix(partner, 0.3)))
    return out


def _oof(model: object, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    import mislabel

    return mislabel.cross_val_pred_probs(model, X, labels, cv=5, random_state=0)


def _fmnist_features(root: Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    from benchmarks.harness import datasets
    from benchmarks.harness.splits import stratified_subset

    ds = datasets.load_fashion_mnist("train", root=root)
    idx = stratified_subset(ds.y, 10_000, 0)
    X = ds.X[idx].reshape(len(idx), -1).astype(np.float32) / 255.0
    return PCA(100, random_state=0).fit_transform(X), ds.y[idx]


def trained(root: Path) -> Iterator[Case]:
    """Out-of-fold probabilities of real models on labels noised here (cached)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from benchmarks.harness import datasets

    feats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fmnist() -> tuple[np.ndarray, np.ndarray]:
        if "fmnist" not in feats:
            feats["fmnist"] = _fmnist_features(root)
        return feats["fmnist"]

    models = {
        "weak: logistic regression on 10 principal components": lambda: (
            LogisticRegression(max_iter=500),
            slice(0, 10),
        ),
        "stronger: MLP (256) on 100 principal components": lambda: (
            MLPClassifier((256,), max_iter=40, random_state=0),
            slice(0, 100),
        ),
    }
    for m_i, (m_name, make_model) in enumerate(models.items()):
        for s_i, (n_name, t) in enumerate(_noise_settings(10, FMNIST_PARTNER)):
            key = f"fmnist_m{m_i}_s{s_i}"

            def make(t: np.ndarray = t, make_model: Callable = make_model) -> dict[str, np.ndarray]:
                X, true = fmnist()
                model, cols = make_model()
                labels = _noisy(true, t, 0)
                return {"labels": labels, "true": true, "p": _oof(model, X[:, cols], labels)}

            d = _cached(key, make)
            yield _from_cache("trained", f"Fashion-MNIST 10k, {m_name}, {n_name}", d)
    yield from _cifar10_embeddings(root)
    text = (("SMS spam", datasets.load_sms_spam), ("TREC coarse", datasets.load_trec))
    for t_i, (t_name, load) in enumerate(text):
        if t_i == 0:  # two classes: symmetric, and one-sided (spam often filed as ham)
            noise = [
                ("noise 20 % both ways", np.array([[0.8, 0.2], [0.2, 0.8]])),
                ("ham 5 % / spam 40 % wrong", np.array([[0.95, 0.05], [0.4, 0.6]])),
            ]
        else:
            noise = _noise_settings(6, None)
        for s_i, (n_name, t) in enumerate(noise):
            key = f"text{t_i}_s{s_i}"

            def make(load: Callable = load, t: np.ndarray = t) -> dict[str, np.ndarray]:
                ds = load(root=root)
                labels = _noisy(ds.y, t, 0)
                model = LogisticRegression(max_iter=2000)
                return {"labels": labels, "true": ds.y, "p": _oof(model, ds.X, labels)}

            d = _cached(key, make)
            yield _from_cache("trained", f"{t_name} (MiniLM, logistic regression), {n_name}", d)


def _cifar10n_embedded() -> dict[str, np.ndarray] | None:
    """The CIFAR-10N embeddings of ``benchmarks._cifar10n_embed``, or None when the embedding
    cache is empty (filling it takes ~40 min of CPU)."""
    from benchmarks import _cifar10n_embed

    if not any(_cifar10n_embed.EMBED_CACHE.glob("*")):
        return None
    try:
        return _cifar10n_embed.load(threads=1)
    except ImportError:  # torch / the backbone package is not installed
        return None


def _cifar10_embeddings(root: Path) -> Iterator[Case]:
    from sklearn.linear_model import LogisticRegression

    emb: dict[str, dict[str, np.ndarray] | None] = {}

    def data() -> dict[str, np.ndarray]:
        if "d" not in emb:
            emb["d"] = _cifar10n_embedded()
        d = emb["d"]
        if d is None:
            raise LookupError
        return d

    for s_i, (n_name, t) in enumerate(_noise_settings(10, sim.CIFAR10_PARTNER)):
        key = f"cifar10emb_s{s_i}"

        def make(t: np.ndarray = t) -> dict[str, np.ndarray]:
            d = data()
            labels = _noisy(d["y_clean"], t, 0)
            model = LogisticRegression(max_iter=1000, C=0.1)
            return {"labels": labels, "true": d["y_clean"], "p": _oof(model, d["X_train"], labels)}

        try:
            d = _cached(key, make)
        except LookupError:
            return
        yield _from_cache("trained", f"CIFAR-10 10k, EfficientNet-Lite0 embeddings, {n_name}", d)


# --------------------------------------------------------------------------- two classes

#: Two-class noise matrices (rows = true class 0 / 1, columns = given label).
TWO_CLASS_NOISE: tuple[tuple[str, tuple[float, float]], ...] = (
    ("10 % both ways", (0.1, 0.1)),
    ("20 % both ways", (0.2, 0.2)),
    ("30 % of class 0 given 1", (0.3, 0.0)),
    ("40 % of class 1 given 0", (0.0, 0.4)),
    ("class 0 5 % / class 1 25 % wrong", (0.05, 0.25)),
    ("class 0 35 % / class 1 10 % wrong", (0.35, 0.1)),
)


def two_class(root: Path) -> Iterator[Case]:
    """Two-class tasks (class 1 = the named class) with the flips of ``TWO_CLASS_NOISE``
    (cached out-of-fold probabilities)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    from benchmarks.harness import datasets

    def text(load: Callable, cls: int | None) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        def get() -> tuple[np.ndarray, np.ndarray]:
            ds = load(root=root)
            y = np.asarray(ds.y)
            return ds.X, (y if cls is None else (y == cls)).astype(np.int64)

        return get

    def fmnist(a: int, b: int | None, cols: int) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        def get() -> tuple[np.ndarray, np.ndarray]:
            X, y = _fmnist_features(root)
            if b is None:
                return X[:, :cols], (y == a).astype(np.int64)
            keep = (y == a) | (y == b)
            return X[keep, :cols], (y[keep] == b).astype(np.int64)

        return get

    def cifar(a: int, b: int | None) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        def get() -> tuple[np.ndarray, np.ndarray]:
            d = _cifar10n_embedded()
            if d is None:
                raise LookupError
            X, y = d["X_train"], np.asarray(d["y_clean"])
            if b is None:
                return X, (y == a).astype(np.int64)
            keep = (y == a) | (y == b)
            return X[keep], (y[keep] == b).astype(np.int64)

        return get

    def logreg(c: float = 1.0) -> Callable[[], object]:
        return lambda: LogisticRegression(max_iter=2000, C=c)

    tasks: list[tuple[str, str, Callable[[], tuple[np.ndarray, np.ndarray]], Callable]] = [
        (
            "sms",
            "SMS spam (MiniLM, logistic regression)",
            text(datasets.load_sms_spam, None),
            logreg(),
        ),
    ]
    for cls in (0, 2, 5):
        tasks.append(
            (
                f"trec{cls}",
                f"TREC class {cls} against the rest (MiniLM, logistic regression)",
                text(datasets.load_trec, cls),
                logreg(),
            )
        )
    for a, b in ((0, 6), (2, 4)):
        tasks.append(
            (
                f"fmnist{a}v{b}",
                f"Fashion-MNIST {a} against {b} (logistic regression on 20 principal components)",
                fmnist(a, b, 20),
                logreg(),
            )
        )
    tasks.append(
        (
            "fmnist3",
            "Fashion-MNIST 3 against the rest (logistic regression on 20 principal components)",
            fmnist(3, None, 20),
            logreg(),
        )
    )
    tasks.append(
        (
            "fmnist4v6mlp",
            "Fashion-MNIST 4 against 6 (MLP (128) on 50 principal components)",
            fmnist(4, 6, 50),
            lambda: MLPClassifier((128,), max_iter=60, random_state=0),
        )
    )
    tasks.append(
        (
            "cifar3v5",
            "CIFAR-10 cat against dog (EfficientNet-Lite0 embeddings)",
            cifar(3, 5),
            logreg(0.1),
        )
    )
    tasks.append(
        (
            "cifar0",
            "CIFAR-10 airplane against the rest (EfficientNet-Lite0 embeddings)",
            cifar(0, None),
            logreg(0.1),
        )
    )
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key, title, get, make_model in tasks:
        for n_i, (n_name, (r0, r1)) in enumerate(TWO_CLASS_NOISE):
            t = np.array([[1 - r0, r0], [r1, 1 - r1]])

            def make(
                key: str = key,
                get: Callable = get,
                make_model: Callable = make_model,
                t: np.ndarray = t,
                seed: int = n_i,
            ) -> dict[str, np.ndarray]:
                if key not in data:
                    data[key] = get()
                X, true = data[key]
                labels = _noisy(true, t, seed)
                return {"labels": labels, "true": true, "p": _oof(make_model(), X, labels)}

            try:
                d = _cached(f"two_class_{key}_s{n_i}", make)
            except LookupError:
                break
            yield _from_cache("two-class", f"{title}, {n_name}", d)


# --------------------------------------------------------------------------- real errors


def real(root: Path) -> Iterator[Case]:
    """Human label errors against a trusted second source (cached out-of-fold probabilities)."""
    from sklearn.linear_model import LogisticRegression

    from benchmarks.harness import datasets

    def rt() -> dict[str, np.ndarray]:
        ds = datasets.load_rt_snippets(root=root)
        model = LogisticRegression(max_iter=2000)
        return {"labels": ds.y, "true": ds.y_true, "p": _oof(model, ds.X, ds.y)}

    d = _cached("rt_snippets", rt)
    yield _from_cache(
        "real", "RT-snippets, 289 crowd-validated errors (MiniLM, logistic regression)", d
    )
    for label_set in ("aggre", "random1", "worst"):

        def c10n(label_set: str = label_set) -> dict[str, np.ndarray]:
            from benchmarks import _cifar10n_embed

            d = _cifar10n_embedded()
            if d is None:
                raise LookupError
            full = datasets.load_cifar10n(label_set, images=False, root=root)
            idx = _cifar10n_embed.train_subset(full.y_true)
            labels = full.y[idx]
            model = LogisticRegression(max_iter=1000, C=0.1)
            return {"labels": labels, "true": d["y_clean"], "p": _oof(model, d["X_train"], labels)}

        try:
            d = _cached(f"cifar10n_{label_set}", c10n)
        except LookupError:
            return
        yield _from_cache(
            "real",
            f"CIFAR-10N {label_set}, 10k (EfficientNet-Lite0 embeddings, logistic regression)",
            d,
        )
