"""Fixtures of the training tests (one torch thread per test process).

The ``blobs`` and ``mlp`` fixtures live in tests/conftest.py.

On CI the root conftest requires torch and fastai; locally the modules importorskip them.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test process (pytest -n 2 runs two processes on two cores)."""
    try:
        import torch
    except Exception:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
