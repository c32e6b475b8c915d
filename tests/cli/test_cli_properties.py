"""Property-based fuzzing of the command line: bad option values and damaged input files.

Every run either succeeds (exit 0) or answers with exactly one line on stderr starting with
``error:`` and exit code 2, with no traceback, and leaves no half-written output behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from fuzz_helpers import COUNTS, fuzz
from mislabel.cli import app

pytestmark = pytest.mark.filterwarnings("ignore")

runner = CliRunner()
BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "1.5", "abc", "", "1e400", "0", "2"]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli_fuzz")
    rng = np.random.default_rng(0)
    labels = np.arange(30) % 3
    logits = rng.normal(size=(30, 3)) + 2 * np.eye(3)[labels]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.save(root / "p.npy", p)
    np.save(root / "y.npy", labels)
    (root / "classes.txt").write_text("a\nb\nc\n")
    res = runner.invoke(
        app,
        ["find", "--pred-probs", str(root / "p.npy"), "--labels", str(root / "y.npy"),
         "--classes", str(root / "classes.txt"), "-o", str(root / "out")],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    return root


def _check(res, where: Path | None, made: str) -> None:
    COUNTS["cases"] += 1
    assert "Traceback" not in res.stdout + res.stderr
    if res.exit_code == 0:
        return
    COUNTS["errors"] += 1
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr, repr(res.exception))
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    if where is not None:
        assert not (where / made).exists(), f"{made} written by a failed run"
        assert not [p for p in where.glob(".*") if p.suffix in (".tmp", ".staged")]


PRED_FILES = {
    "good": lambda p: p,
    "nan": lambda p: np.where(np.arange(p.size).reshape(p.shape) == 4, np.nan, p),
    "wrong_rows": lambda p: p[:-1],
    "one_column": lambda p: p[:, :1],
    "negative": lambda p: p - 0.5,
    "objects": lambda p: np.array([{"x": 1}] * 3, dtype=object),
}
LABEL_FILES = {
    "good": lambda y: y,
    "floats": lambda y: y + 0.5,
    "negative": lambda y: y - 1,
    "huge": lambda y: y * 10**9,
    "strings": lambda y: y.astype(str),
}


@fuzz(40, deadline_ms=None)
@given(
    st.sampled_from(list(PRED_FILES)),
    st.sampled_from(list(LABEL_FILES)),
    st.sampled_from(["--noise-rate", "--method", "--top", "--seed", None]),
    st.sampled_from([*BAD_NUMBERS, "confident_learning", "prune_by_class", "2**70"]),
    st.sampled_from(["good", "missing", "dir", "garbage"]),
)
def test_find(base: Path, tmp_path_factory, pred, lab, option, value, classes):
    tmp = tmp_path_factory.mktemp("find")
    p = np.load(base / "p.npy")
    y = np.load(base / "y.npy")
    bad_p = PRED_FILES[pred](p)
    np.save(tmp / "p.npy", bad_p, allow_pickle=bad_p.dtype == object)
    np.save(tmp / "y.npy", LABEL_FILES[lab](y))
    cls = {
        "good": base / "classes.txt",
        "missing": tmp / "none.txt",
        "dir": tmp,
        "garbage": tmp / "g.txt",
    }[classes]
    if classes == "garbage":
        cls.write_bytes(b"\xff\xfe\x00junk\n")
    args = ["find", "--pred-probs", str(tmp / "p.npy"), "--labels", str(tmp / "y.npy")]
    args += ["--classes", str(cls), "-o", str(tmp / "out")]
    if option is not None:
        args += [option, value]
    _check(runner.invoke(app, args), tmp / "out", "issues.csv")


def _damage_issues(out: Path, how: str) -> None:
    path = out / "issues.csv"
    frame = pd.read_csv(path, keep_default_na=False)
    if how == "drop_column":
        frame.drop(columns=["is_issue"]).to_csv(path, index=False)
    elif how == "bad_ids":
        frame["id"] = ["x", *frame["id"].tolist()[1:]]
        frame.to_csv(path, index=False)
    elif how == "empty":
        path.write_text("")
    elif how == "binary":
        path.write_bytes(b"\x00\xff" * 50)
    elif how == "header_only":
        path.write_text(",".join(frame.columns) + "\n")
    elif how == "no_file":
        path.unlink()
    elif how == "labels_npy":
        (out / "labels.npy").write_bytes(b"garbage")
    elif how == "find_json":
        (out / "find.json").write_text("{not json")


@fuzz(40, deadline_ms=None)
@given(
    st.sampled_from(["clean", "report"]),
    st.sampled_from(
        [
            "none",
            "drop_column",
            "bad_ids",
            "empty",
            "binary",
            "header_only",
            "no_file",
            "labels_npy",
            "find_json",
        ]
    ),
    st.sampled_from(["remove", "relabel", "reweight", "keep", "burn", ""]),
    st.sampled_from(BAD_NUMBERS),
)
def test_clean_and_report(base: Path, tmp_path_factory, command, damage, policy, confidence):
    tmp = tmp_path_factory.mktemp("clean")
    out = tmp / "out"
    shutil.copytree(base / "out", out)
    _damage_issues(out, damage)
    if command == "clean":
        args = ["clean", str(out), "--policy", policy, "--min-confidence", confidence]
        made = "labels_clean.csv"
    else:
        pytest.importorskip("matplotlib")
        args = ["report", str(out), "-o", str(tmp / "report.html")]
        made = "report.html"
    res = runner.invoke(app, args)
    _check(res, out if command == "clean" else tmp, made)


@fuzz(20, deadline_ms=None)
@given(
    st.sampled_from(["find", "clean", "report", "train", "nope", "--nope"]),
    st.lists(st.sampled_from(["--cv", "abc", "--top", "-o", "--policy", "x", "--"]), max_size=4),
)
def test_usage_errors(base: Path, command, rest):
    res = runner.invoke(app, [command, *rest])
    _check(res, None, "")
