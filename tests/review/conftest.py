"""Fixtures of the review tests (helpers live in review_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from review_helpers import Dataset, Server, make_dataset, start_server


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path)


@pytest.fixture
def server(dataset: Dataset) -> Iterator[Server]:
    srv = start_server(dataset.issues, dataset.root)
    try:
        yield srv
    finally:
        srv.stop()
