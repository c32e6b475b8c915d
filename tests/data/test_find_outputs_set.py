"""The outputs of ``mislabel find`` are written as one set: fault injection between files, and
names that would break a line-based or spreadsheet reader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mislabel.data._outputs as outputs_mod
from mislabel.cli import app
from mislabel.data import (
    FIND_FILES,
    find_issues_in,
    load_find_outputs,
    load_predictions,
    read_issues,
)
from mislabel.exceptions import InvalidInputError
from mislabel.fix import apply_policy, load_cleaned_labels


def _result(seed: int, classes=("a", "b", "c")):
    rng = np.random.default_rng(seed)
    n = 30
    labels = np.arange(n) % 3
    logits = rng.normal(size=(n, 3)) + 2 * np.eye(3)[labels]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return find_issues_in(load_predictions(p, labels, classes=list(classes)))


def test_a_saved_set_reads_back_with_its_run_id(tmp_path: Path) -> None:
    res = _result(0)
    paths = res.save(tmp_path)
    assert set(paths) == set(FIND_FILES)
    out = load_find_outputs(tmp_path)
    assert len(out.meta["run_id"]) == 32
    assert set(out.meta["files"]) == set(FIND_FILES) - {"find.json"}
    np.testing.assert_array_equal(out.pred_probs, res.pred_probs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _replace_failing_after(monkeypatch: pytest.MonkeyPatch, n_ok: int) -> None:
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        if str(src).endswith(".staged"):
            calls["n"] += 1
            if calls["n"] > n_ok:
                raise KeyboardInterrupt  # as a kill would stop it
        return real(src, dst)

    monkeypatch.setattr(outputs_mod.os, "replace", replace)


def test_a_run_killed_between_files_is_refused_on_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _result(0).save(tmp_path)
    _replace_failing_after(monkeypatch, 2)  # issues.csv and pred_probs.npy of the new run
    with pytest.raises(KeyboardInterrupt):
        _result(1).save(tmp_path)
    monkeypatch.undo()
    with pytest.raises(InvalidInputError, match=r"issues\.csv.*does not belong to the run"):
        load_find_outputs(tmp_path)
    with pytest.raises(InvalidInputError, match="does not belong to the run"):
        read_issues(tmp_path)
    res = CliRunner().invoke(app, ["clean", str(tmp_path)])
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "labels_clean.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".staged")]


def test_a_run_killed_while_writing_leaves_the_previous_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _result(0)
    before.save(tmp_path)
    _replace_failing_after(monkeypatch, 0)
    with pytest.raises(KeyboardInterrupt):
        _result(1).save(tmp_path)
    monkeypatch.undo()
    out = load_find_outputs(tmp_path)
    np.testing.assert_array_equal(out.pred_probs, before.pred_probs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_edited_after_the_run_is_refused(tmp_path: Path) -> None:
    _result(0).save(tmp_path)
    np.save(tmp_path / "labels.npy", np.zeros(30, dtype=np.int64))
    with pytest.raises(InvalidInputError, match=r"labels\.npy"):
        load_find_outputs(tmp_path)


def test_a_hand_written_find_json_is_not_checked(tmp_path: Path) -> None:
    _result(0).save(tmp_path)
    (tmp_path / "find.json").write_text("{}")
    assert load_find_outputs(tmp_path).labels.shape == (30,)


NASTY = ("=cmd|' /C calc'!A0", "line\nbreak", "+1", "-2", "@sum(a)", "back\\slash", "'=x")


def test_class_names_round_trip_through_every_file(tmp_path: Path) -> None:
    names = NASTY[:3]
    _result(0, classes=names).save(tmp_path)
    out = load_find_outputs(tmp_path)
    assert out.classes == names
    assert set(out.issues["given_label"]) == set(names)
    raw = (tmp_path / "issues.csv").read_text()
    assert "\n=cmd" not in raw and ",=cmd" not in raw and ",+1" not in raw
    cleaned = apply_policy(out.issues, "relabel")
    cleaned.save(tmp_path / "labels_clean.csv", tmp_path / "changes.csv")
    text = (tmp_path / "labels_clean.csv").read_text()
    assert ",=cmd" not in text and ",+1" not in text
    labels, keep = load_cleaned_labels(tmp_path / "labels_clean.csv", classes=names, n_samples=30)
    assert keep.all()
    np.testing.assert_array_equal(
        labels, [names.index(s) for s in cleaned.labels[np.argsort(cleaned.ids)]]
    )


@pytest.mark.parametrize("name", NASTY)
def test_every_nasty_name_survives(tmp_path: Path, name: str) -> None:
    names = (name, "b", "c")
    _result(0, classes=names).save(tmp_path)
    assert load_find_outputs(tmp_path).classes == names
