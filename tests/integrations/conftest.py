"""Fixtures of the integration tests (one torch thread per test process).

The ``blobs``, ``mlp`` and ``one_torch_thread`` fixtures live in tests/conftest.py.

On CI the root conftest requires torch and fastai; locally the modules importorskip them.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
