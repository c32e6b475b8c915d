"""The benchmark harness: configs, rows, resumability, the table arithmetic, the command line.

Most tests run on scikit-learn's digits (no shared data needed) with a tiny budget; the smoke
versions of the three built-in tables use ``shared_data``.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.harness.config import (
    BUILTIN_CONFIGS,
    builtin_config,
    load_config,
    smoke_config,
    validate_config,
)
from benchmarks.harness.render import gap_closed, render_markdown
from benchmarks.harness.run import RESULT_COLUMNS, main, run_benchmark

from mislabel.exceptions import InvalidParameterError, MissingDependencyError

torch = pytest.importorskip("torch")


def _tiny(methods: list[str], **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "name": "tiny",
        "seeds": [0, 1],
        "methods": methods,
        "train": {"model": "mlp", "epochs": 1, "batch_size": 64},
        "oof": {"folds": 2, "epochs": 1},
        "experiments": [
            {
                "id": "digits",
                "dataset": "digits",
                "n_train": 400,
                "noise": [{"kind": "symmetric", "rate": 0.4}, {"kind": "pair", "rate": 0.3}],
            }
        ],
    }
    cfg.update(over)
    return cfg


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- running


def test_rows_csv_and_markdown_with_ce_and_oracle_always(tmp_path: Path) -> None:
    result = run_benchmark(_tiny(["mislabel_remove"]), tmp_path, progress=False)
    rows = _rows(result.csv_path)
    # 2 noise settings × 2 seeds × (ce, mislabel_remove, oracle): CE and oracle were added
    assert len(rows) == 12 == result.n_run
    assert list(rows[0]) == list(RESULT_COLUMNS)
    assert {r["method"] for r in rows} == {"ce", "mislabel_remove", "oracle"}
    for r in rows:
        assert 0.0 <= float(r["test_acc"]) <= 1.0
    removed = [r for r in rows if r["method"] == "mislabel_remove"]
    assert all(int(r["n_used"]) < int(r["n_train"]) for r in removed)
    assert all(r["f1"] != "" for r in removed)
    sym = [r for r in rows if r["noise"] == "symmetric 40%"]
    assert all(math.isclose(float(r["noise_rate"]), 0.4, abs_tol=0.01) for r in sym)
    md = result.markdown_path.read_text()
    assert md == result.markdown
    assert "| ce |" in md and "| oracle |" in md and "gap closed" in md
    assert md.index("| ce |") < md.index("| mislabel_remove |") < md.index("| oracle |")


def test_recipes_run_and_keep_or_remove_as_documented(tmp_path: Path) -> None:
    methods = [
        "mislabel_remove",
        "mislabel_2round",
        "mislabel_2round_mixoof_elr",
        "elr",
        "oracle_remove",
        "mislabel_dyn_remove",
        "mislabel_dyn_weight_elr",
        "mislabel_2dyn_weight_elr",
        "mislabel_dyn_select",
        "mislabel_dynoof_weight_elr",
        "mislabel_dynknn_weight_elr",
        "mislabel_dynknn_select",
    ]
    cfg = _tiny(methods, seeds=[0])
    cfg["experiments"][0]["noise"] = [{"kind": "symmetric", "rate": 0.4}]
    rows = {r["method"]: r for r in _rows(run_benchmark(cfg, tmp_path, progress=False).csv_path)}
    assert set(methods) <= set(rows)
    kept = [m for m in methods if "_2round" in m or "weight" in m or "select" in m]
    for m in kept:  # weights, nothing removed
        assert int(rows[m]["n_used"]) == int(rows[m]["n_train"])
        assert rows[m]["f1"] != ""
    for m in ("mislabel_remove", "mislabel_dyn_remove"):
        r = rows[m]
        assert int(r["n_used"]) == int(r["n_train"]) - int(r["n_flagged"]) < 400
    # the out-of-fold passes of both rounds, plain and mixup, were cached beside the results
    for name in ("oof_r1_mixup0", "oof_r2_mixup0", "oof_r1_mixup1", "oof_r2_mixup1"):
        assert (tmp_path / ".cache" / name).is_dir()
    assert rows["mislabel_2round_mixoof_elr"]["n_flagged"] != rows["mislabel_2round"]["n_flagged"]
    # the perfect-detection ceiling: exactly the wrong labels (40 % of 400) removed
    perfect = rows["oracle_remove"]
    assert float(perfect["f1"]) == 1.0
    assert int(perfect["n_used"]) == int(perfect["n_train"]) - int(perfect["n_flagged"]) == 240
    # one mixup run on all samples: the same flags whatever is done with them
    dyn = rows["mislabel_dyn_remove"]
    assert rows["mislabel_dyn_weight_elr"]["f1"] == dyn["f1"] == rows["mislabel_dyn_select"]["f1"]
    # the estimator's run (α = 4, the neighbour vote) has its own flags
    knn = rows["mislabel_dynknn_weight_elr"]
    assert knn["n_flagged"] != dyn["n_flagged"]


def test_gated_recipe_is_the_headline_for_a_network_and_plain_ce_for_a_linear_model(
    tmp_path: Path,
) -> None:
    methods = ["mislabel_dynknn_weight_elr", "mislabel_dynknn_weight", "mislabel_dynknn_gated"]
    mlp = _tiny(methods, seeds=[0])  # ~86,000 parameters, 400 samples: it can memorise them
    mlp["experiments"][0]["noise"] = [{"kind": "symmetric", "rate": 0.3}]
    linear = _tiny(methods, seeds=[0], train={"model": "logreg", "epochs": 3, "batch_size": 64})
    linear["experiments"][0].update(n_train=1000, noise=[{"kind": "symmetric", "rate": 0.3}])
    got = {}
    for name, cfg in (("mlp", mlp), ("logreg", linear)):
        rows = _rows(run_benchmark(cfg, tmp_path / name, progress=False).csv_path)
        got[name] = {r["method"]: r for r in rows}
    net, lin = got["mlp"], got["logreg"]
    # a network: NoiseAwareClassifier's defaults are its weights + ELR (the same fit)
    assert net["mislabel_dynknn_gated"]["test_acc"] == net["mislabel_dynknn_weight_elr"]["test_acc"]
    assert net["mislabel_dynknn_gated"]["f1"] == net["mislabel_dynknn_weight_elr"]["f1"] != ""
    # 650 parameters for 1,000 samples: plain CE on the given labels, the detection still shown
    assert lin["mislabel_dynknn_gated"]["test_acc"] == lin["ce"]["test_acc"]
    assert lin["mislabel_dynknn_gated"]["test_acc"] != lin["mislabel_dynknn_weight_elr"]["test_acc"]
    assert lin["mislabel_dynknn_gated"]["f1"] == lin["mislabel_dynknn_weight"]["f1"] != ""
    assert int(lin["mislabel_dynknn_gated"]["n_used"]) == 1000


def test_oracle_is_the_same_under_every_noise_setting(tmp_path: Path) -> None:
    result = run_benchmark(_tiny(["ce"]), tmp_path, progress=False)
    oracle = [r for r in _rows(result.csv_path) if r["method"] == "oracle"]
    by_seed: dict[str, set[str]] = {}
    for r in oracle:
        by_seed.setdefault(r["seed"], set()).add(r["test_acc"])
    assert all(len(v) == 1 for v in by_seed.values())  # trained once per seed, reused


def test_rerun_skips_finished_rows_and_adds_no_duplicates(tmp_path: Path) -> None:
    cfg = _tiny(["cleanlab"])
    first = run_benchmark(cfg, tmp_path, progress=False)
    before = _rows(first.csv_path)
    second = run_benchmark(cfg, tmp_path, progress=False)
    assert (second.n_run, second.n_skipped) == (0, len(before))
    assert _rows(second.csv_path) == before  # nothing recomputed, nothing appended
    assert second.markdown == first.markdown


def test_killed_run_resumes_only_the_missing_rows(tmp_path: Path) -> None:
    cfg = _tiny(["mislabel_best"])
    first = run_benchmark(cfg, tmp_path, progress=False)
    rows = _rows(first.csv_path)
    # simulate a kill: the last 3 rows never finished, the one before was torn mid-write
    lines = first.csv_path.read_text().splitlines(keepends=True)
    kept = lines[: len(lines) - 4]
    torn = lines[len(lines) - 4][:10]
    first.csv_path.write_text("".join(kept) + torn)
    second = run_benchmark(cfg, tmp_path, progress=False)
    assert second.n_run == 4 and second.n_skipped == len(rows) - 4
    after = _rows(second.csv_path)
    assert len(after) == len(rows)
    keys = [(r["experiment"], r["noise"], r["method"], r["seed"]) for r in after]
    assert len(set(keys)) == len(keys)
    # the rows that had finished are byte-for-byte the old ones (not recomputed)
    assert after[: len(rows) - 4] == rows[: len(rows) - 4]


def test_changed_schedule_is_not_mistaken_for_a_finished_row(tmp_path: Path) -> None:
    run_benchmark(_tiny(["ce"]), tmp_path, progress=False)
    cfg = _tiny(["ce"], train={"model": "mlp", "epochs": 2, "batch_size": 64})
    again = run_benchmark(cfg, tmp_path, progress=False)
    assert again.n_skipped == 0 and again.n_run == 8
    assert len(again.rows) == 8  # the table shows only the current config's rows


def test_no_resume_starts_afresh(tmp_path: Path) -> None:
    cfg = _tiny(["ce"], seeds=[0])
    run_benchmark(cfg, tmp_path, progress=False)
    again = run_benchmark(cfg, tmp_path, resume=False, progress=False)
    assert again.n_run == 4 and len(_rows(again.csv_path)) == 4


def test_loss_methods_and_forward_correction(tmp_path: Path) -> None:
    cfg = _tiny(
        ["gce", "forward_correction_true", "forward_correction_est", "mislabel_remove"],
        seeds=[0],
    )
    cfg["experiments"][0]["noise"] = [{"kind": "symmetric", "rate": 0.3}]
    rows = _rows(run_benchmark(cfg, tmp_path, progress=False).csv_path)
    assert [r["method"] for r in rows] == [
        "ce",
        "gce",
        "forward_correction_true",
        "forward_correction_est",
        "mislabel_remove",
        "oracle",
    ]


def test_detection_task_on_a_trainable_dataset(tmp_path: Path) -> None:
    cfg = _tiny(["mislabel", "cleanlab", "mislabel:prune_by_noise_rate"], task="detect", seeds=[0])
    result = run_benchmark(cfg, tmp_path, progress=False)
    rows = _rows(result.csv_path)
    assert {r["method"] for r in rows} == {"mislabel", "cleanlab", "mislabel:prune_by_noise_rate"}
    assert all(0.0 <= float(r["f1"]) <= 1.0 for r in rows)
    assert "| precision | recall | F1 |" in result.markdown


# --------------------------------------------------------------------------- the table


def test_gap_closed_arithmetic() -> None:
    assert gap_closed(0.9, 0.8, 1.0) == pytest.approx(0.5)
    assert gap_closed(1.0, 0.8, 1.0) == pytest.approx(1.0)
    assert gap_closed(0.8, 0.8, 1.0) == 0.0
    assert gap_closed(0.7, 0.8, 1.0) == pytest.approx(-0.5)
    assert math.isnan(gap_closed(0.9, 0.8, 0.8))  # no gap to close
    assert math.isnan(gap_closed(0.9, 0.85, 0.8))


def _row(noise: str, method: str, seed: int, acc: float) -> dict[str, str]:
    row = dict.fromkeys(RESULT_COLUMNS, "")
    row.update(
        experiment="digits",
        noise=noise,
        method=method,
        seed=str(seed),
        test_acc=str(acc),
        noise_rate="0.4",
    )
    return row


def test_markdown_mean_std_and_gap_closed_from_rows() -> None:
    cfg = validate_config(_tiny(["cleanlab", "mislabel_best"]))
    accs = {
        "ce": (0.70, 0.72),
        "cleanlab": (0.80, 0.80),
        "mislabel_best": (0.88, 0.90),
        "oracle": (0.90, 0.92),
    }
    rows = [
        _row(noise, m, seed, accs[m][seed])
        for noise in ("symmetric 40%", "pair 30%")
        for m in accs
        for seed in (0, 1)
    ]
    md = render_markdown(cfg, rows, command="python x.py")
    assert md.startswith("# tiny\n\nCommand:\n\n```\npython x.py\n```")
    assert "71.0 ± 1.4" in md  # mean and ddof=1 std of (70, 72), in %
    # ours: (89 - 71) / (91 - 71) = 90 %; cleanlab: (80 - 71) / 20 = 45 %
    assert "| 90 % | 45 % |" in md
    assert "- mislabel_best: 90 %; above cleanlab on 2 of 2 settings" in md
    assert "- cleanlab: 45 %" in md


def test_settings_where_ce_is_close_to_the_oracle_are_not_averaged() -> None:
    cfg = validate_config(_tiny(["mislabel_best"]))
    accs = {"ce": 0.89, "mislabel_best": 0.90, "oracle": 0.90}  # gap 1 point < 3
    rows = [
        _row(n, m, s, a)
        for n in ("symmetric 40%", "pair 30%")
        for m, a in accs.items()
        for s in (0, 1)
    ]
    md = render_markdown(cfg, rows)
    assert "over the 0 settings" in md and "- mislabel_best: –" in md
    assert "¹" in md


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"epoch": 3}, "`epoch`"),
        ({"methods": ["ce", "gcee"]}, "`methods[1]`"),
        ({"seeds": [0, 0]}, "`seeds`"),
        ({"selection": "best_clean"}, "`selection`"),
        ({"train": {"model": "resnet"}}, "`train.model`"),
        ({"oof": {"folds": 1}}, "`oof.folds`"),
        ({"loss_kwargs": {"gce": {"q": 0.5}}}, "`loss_kwargs.gce`"),
        ({"experiments": []}, "`experiments`"),
    ],
)
def test_bad_config_names_the_key(change: dict[str, Any], key: str) -> None:
    cfg = _tiny(["ce"])
    cfg.update(change)
    with pytest.raises(InvalidParameterError, match=key.replace("[", r"\[").replace("]", r"\]")):
        validate_config(cfg)


@pytest.mark.parametrize(
    ("experiment", "key"),
    [
        ({"dataset": "imagenet"}, r"`experiments\[0\].dataset`"),
        (
            {"dataset": "digits", "noise": [{"kind": "symmetric"}]},
            r"`experiments\[0\].noise\[0\].rate`",
        ),
        (
            {"dataset": "digits", "noise": [{"kind": "symmetric", "rate": 1.5}]},
            r"`experiments\[0\].noise\[0\].rate`",
        ),
        (
            {"dataset": "digits", "noise": [{"kind": "sym", "rate": 0.2}]},
            r"`experiments\[0\].noise\[0\].kind`.*Did you mean 'symmetric'",
        ),
        ({"dataset": "digits", "noise": [{"kind": "real"}]}, r"`experiments\[0\].noise\[0\].kind`"),
        (
            {"dataset": "cifar10n", "noise": [{"kind": "real", "labels": "wrost"}]},
            r"`experiments\[0\].noise\[0\].labels`",
        ),
        ({"dataset": "digits", "noise": ["none"], "n_trian": 5}, r"`experiments\[0\].n_trian`"),
        (
            {"dataset": "digits", "noise": ["none"], "test_from_train": 100},
            r"`experiments\[0\].test_from_train`.*own test set",
        ),
        (
            {"dataset": "digits", "noise": ["none"], "subset_seed": -1},
            r"`experiments\[0\].subset_seed`",
        ),
    ],
)
def test_bad_experiment_names_the_key(experiment: dict[str, Any], key: str) -> None:
    with pytest.raises(InvalidParameterError, match=key):
        validate_config(_tiny(["ce"], experiments=[experiment]))


def test_bad_config_fails_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="`experiments"):
        run_benchmark(_tiny(["ce"], experiments=[{"dataset": "nope"}]), tmp_path, progress=False)
    assert not (tmp_path / "results.csv").exists()


def test_toml_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'name = "toml"\nseeds = [0]\nmethods = ["ce"]\n[train]\nepochs = 1\n'
        '[[experiments]]\ndataset = "digits"\nn_train = 200\nnoise = [{ kind = "symmetric", '
        "rate = 0.2 }]\n"
    )
    assert load_config(path)["name"] == "toml"
    result = run_benchmark(path, tmp_path / "out", progress=False)
    assert result.n_run == 2  # ce + oracle
    with pytest.raises(InvalidParameterError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(InvalidParameterError, match="not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize("name", BUILTIN_CONFIGS)
def test_builtin_configs_validate_and_shrink(name: str) -> None:
    full = validate_config(builtin_config(name))
    smoke = validate_config(builtin_config(name, smoke=True))
    assert len(smoke["seeds"]) == 1
    if full["task"] == "train":
        assert len(full["seeds"]) == 3
        assert full["methods"][0] == "ce" and full["methods"][-1] == "oracle"
        assert all(e["train"]["epochs"] == 1 for e in smoke["experiments"])
        assert all((e["n_train"] or 0) <= 1000 for e in smoke["experiments"])
    assert smoke_config(builtin_config(name))["name"].endswith("-smoke")


def test_missing_cleanlab_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)
    with pytest.raises(MissingDependencyError, match="cleanlab"):
        run_benchmark(_tiny(["cleanlab"]), tmp_path, progress=False)


# --------------------------------------------------------------------------- command line


def test_command_line_runs_a_config_and_names_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'seeds = [0]\nmethods = ["ce"]\n[train]\nepochs = 1\n[[experiments]]\n'
        'dataset = "digits"\nn_train = 200\nnoise = ["none"]\n'
    )
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--no-progress"]) == 0
    assert "2 rows run" in capsys.readouterr().out
    assert (out / "results.md").read_text().count("python -m benchmarks.harness.run") == 1


# --------------------------------------------------------------------------- smoke tables


@pytest.mark.parametrize("name", BUILTIN_CONFIGS)
def test_smoke_tables_run_in_seconds(
    name: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISLABEL_DATA", str(shared_data))
    cfg = builtin_config(name, smoke=True)
    result = run_benchmark(cfg, tmp_path, progress=False)
    rows = _rows(result.csv_path)
    assert result.n_run == len(rows) > 0
    methods = {r["method"] for r in rows}
    if cfg.get("task", "train") == "train":
        assert {"ce", "oracle"} <= methods
        assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)
    else:
        assert all(0.0 <= float(r["f1"]) <= 1.0 for r in rows)


def test_a_loss_under_a_tagged_name_gets_its_own_arguments(tmp_path: Path) -> None:
    cfg = _tiny(
        ["nce_rce", "nce_rce@beta10"], seeds=[0], loss_kwargs={"nce_rce@beta10": {"beta": 10.0}}
    )
    cfg["experiments"][0]["noise"] = [{"kind": "symmetric", "rate": 0.3}]
    rows = _rows(run_benchmark(cfg, tmp_path, progress=False).csv_path)
    by = {r["method"]: r for r in rows}
    assert set(by) == {"ce", "nce_rce", "nce_rce@beta10", "oracle"}
    assert by["nce_rce"]["config_hash"] != by["nce_rce@beta10"]["config_hash"]
    with pytest.raises(InvalidParameterError, match=r"`methods\[0\]`.*'<loss>@<tag>'"):
        validate_config(_tiny(["cleanlab@x"]))
    with pytest.raises(InvalidParameterError, match=r"`loss_kwargs.nce_rce@b`"):
        validate_config(_tiny(["nce_rce"], loss_kwargs={"nce_rce@b": {"beta": 1.0}}))


def test_dev_check_split_scores_on_other_training_images(shared_data: Path) -> None:
    """``subset_seed`` / ``test_from_train``: another training subset, and a test set of
    further training images with their true labels, disjoint from it (the real test set is
    never read)."""
    import numpy as np
    from benchmarks.harness.datasets import load_fashion_mnist
    from benchmarks.harness.splits import Data

    exp = {
        "id": "dev",
        "dataset": "fashion-mnist",
        "n_train": 300,
        "subset_seed": 1,
        "test_from_train": 200,
        "noise": [{"kind": "symmetric", "rate": 0.4}],
        "train": {"model": "mlp"},
    }
    cfg = validate_config(_tiny(["ce"], experiments=[exp]))
    e = cfg["experiments"][0]
    split = Data().split(e, e["noise"][0], 0)
    table = Data().split({**e, "subset_seed": 0, "test_from_train": None}, e["noise"][0], 0)
    train = load_fashion_mnist("train", root=shared_data)
    pool = train.X.reshape(len(train.y), -1).astype(np.float32) / 255.0 - 0.5
    rows = {row.tobytes(): i for i, row in enumerate(pool)}
    assert split.X is not None and split.X_test is not None
    tr = [rows[r.tobytes()] for r in split.X]
    te = [rows[r.tobytes()] for r in split.X_test]
    assert len(te) == 200 and not set(tr) & set(te)  # other training images, disjoint
    np.testing.assert_array_equal(split.y_test, train.y[te])  # scored on their true labels
    assert split.X is not None and table.X is not None
    assert split.X.shape == table.X.shape and not np.array_equal(split.X, table.X)
