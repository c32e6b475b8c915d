"""Fixtures of the CLI tests (the data makers live in cli_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_data import make_image_folder, make_table, make_text_csv


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")[0]


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    return make_table(tmp_path / "table.csv")


@pytest.fixture
def text_csv(tmp_path: Path) -> Path:
    return make_text_csv(tmp_path / "texts.csv")
