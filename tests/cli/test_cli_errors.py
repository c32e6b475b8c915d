"""Every listed error: one clear line on stderr, exit code 2, no traceback unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_data import make_image_folder
from typer.testing import CliRunner

from mislabel.cli import _hoist_debug, app

runner = CliRunner()


def _missing_label_column(tmp: Path) -> tuple[list[str], str]:
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "target": ["a", "b", "a", "b"]}).to_csv(
        tmp / "t.csv", index=False
    )
    return ["find", str(tmp / "t.csv")], "label column 'label' not found"


def _unreadable_image(tmp: Path) -> tuple[list[str], str]:
    folder, _ = make_image_folder(tmp / "images", n_per_class=4)
    (folder / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return ["find", str(folder)], "cannot read image 'circle/broken.png'"


def _one_sample_class(tmp: Path) -> tuple[list[str], str]:
    folder, _ = make_image_folder(tmp / "images", n_per_class=4)
    (folder / "lonely").mkdir()
    src = next((folder / "circle").glob("*.png"))
    (folder / "lonely" / "only.png").write_bytes(src.read_bytes())
    return ["find", str(folder)], "class 'lonely' has only 1 sample"


def _mixed_sizes(tmp: Path) -> tuple[list[str], str]:
    from PIL import Image

    folder, _ = make_image_folder(tmp / "images", n_per_class=4, size=12)
    Image.fromarray(np.zeros((20, 16, 3), dtype=np.uint8)).save(folder / "square" / "big.png")
    return ["find", str(folder)], "images must all have the same size"


def _missing_path(tmp: Path) -> tuple[list[str], str]:
    return ["find", str(tmp / "nowhere")], "does not exist"


ERRORS: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "missing label column": _missing_label_column,
    "unreadable image": _unreadable_image,
    "class with one sample": _one_sample_class,
    "mixed image sizes": _mixed_sizes,
    "path does not exist": _missing_path,
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_error_is_one_line_and_exit_code_2(case: str, tmp_path: Path) -> None:
    args, expected = ERRORS[case](tmp_path)
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "out" / "issues.csv").exists()


@pytest.mark.parametrize("case", ["mixed image sizes", "class with one sample"])
def test_debug_shows_the_traceback(case: str, tmp_path: Path) -> None:
    args, expected = ERRORS[case](tmp_path)
    result = runner.invoke(app, ["--debug", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert expected in result.stderr


def test_mixed_sizes_message_names_both_files_and_image_size_fixes_it(tmp_path: Path) -> None:
    args, _ = _mixed_sizes(tmp_path)
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "out")])
    assert "'square/big.png' is 16x20" in result.stderr
    assert "12x12" in result.stderr and "--image-size" in result.stderr
    fixed = runner.invoke(app, [*args, "--image-size", "12", "--cv", "2", "-o", str(tmp_path)])
    assert fixed.exit_code == 0, fixed.stderr
    assert (tmp_path / "issues.csv").is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["find"], "give DATA"),
        (["clean", "{tmp}/none.csv"], "does not exist"),
        (["report", "{tmp}"], "lacks issues.csv"),
        (["train", "{tmp}/t.csv", "--recipe", "plain", "--loss", "gcee"], "Did you mean 'gce'"),
        (
            ["train", "{tmp}/t.csv", "--recipe", "plain", "--loss", "forward_correction"],
            "needs a noise matrix",
        ),
        (["train", "{tmp}/t.csv", "--recipe", "plain", "--loss-arg", "q"], "NAME=VALUE"),
        (["train", "{tmp}/t.csv", "--loss", "gce"], "Add --recipe plain"),
        (["train", "{tmp}/t.csv", "--recipe", "best"], "`recipe` must be one of"),
        (["find", "{tmp}/t.csv", "--noise-rate", "1.5"], "`noise_rate` must be < 1.0"),
        (["clean", "{tmp}/out", "--policy", "burn"], "`policy` must be one of"),
    ],
)
def test_other_errors_are_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pd.DataFrame({"x": np.arange(8.0), "label": ["a", "b"] * 4}).to_csv(
        tmp_path / "t.csv", index=False
    )
    runner.invoke(app, ["find", str(tmp_path / "t.csv"), "--cv", "2", "-o", str(tmp_path / "out")])
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_hoist_debug() -> None:
    assert _hoist_debug(["find", "x", "--debug"]) == ["--debug", "find", "x"]
    assert _hoist_debug(["find", "--", "--debug"]) == ["find", "--", "--debug"]
    assert _hoist_debug(["find"]) == ["find"]


def test_console_script_exit_code_and_debug_anywhere(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "mislabel.cli", "find", str(tmp_path / "nowhere")]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr.strip().splitlines() == [
        line for line in plain.stderr.strip().splitlines() if line.startswith("error: ")
    ]
    assert len(plain.stderr.strip().splitlines()) == 1
    debug = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
