"""Malformed requests get a 4xx answer, never a 500; a bad host leaves no database behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_helpers import Dataset

import mislabel.review
from mislabel.exceptions import InvalidParameterError
from mislabel.review import create_app, default_db_path

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def app(dataset: Dataset) -> Iterator[FastAPI]:
    application = create_app(dataset.issues, dataset.root)
    yield application
    application.state.store.close()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE, raise_server_exceptions=False)


def _post(client: TestClient, app: FastAPI, url: str, raw: str):
    return client.post(
        url,
        content=raw,
        headers={"X-Mislabel-Token": app.state.csrf_token, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    "raw",
    [
        '{"id": NaN, "action": "kept"}',
        '{"id": Infinity, "action": "kept"}',
        '{"id": -Infinity, "action": "kept"}',
        '{"id": true, "action": "kept"}',
        '{"id": "1", "action": "kept"}',
        '{"id": 1.5, "action": "kept"}',
        '{"id": 9223372036854775808, "action": "kept"}',
        '{"id": -1, "action": "kept"}',
    ],
)
def test_a_bad_decision_id_is_a_422_without_echo(client: TestClient, app: FastAPI, raw: str):
    r = _post(client, app, "/api/decisions", raw)
    assert r.status_code == 422, r.text
    assert "detail" in r.json()
    assert app.state.store.last_seq() == 0


@pytest.mark.parametrize("seq", ["9223372036854775808", "1e400", "NaN", "true", '"3"', "-1"])
def test_a_bad_undo_seq_is_a_422(client: TestClient, app: FastAPI, seq: str) -> None:
    r = _post(client, app, "/api/undo", f'{{"seq": {seq}}}')
    assert r.status_code == 422, r.text


def test_changes_since_beyond_sqlite_is_a_422(client: TestClient) -> None:
    assert client.get("/api/changes", params={"since": 2**63}).status_code == 422
    assert client.get("/api/changes", params={"since": 2**63 - 1}).status_code == 200


def test_head_on_a_served_file(client: TestClient, dataset: Dataset) -> None:
    path = next(p for p in (r.get("path") for r in dataset.rows) if p)
    got = client.head(f"/files/{path}")
    assert got.status_code == 200
    assert client.head("/files/not-listed.png").status_code == 404


def test_a_host_that_does_not_resolve_leaves_no_database(dataset: Dataset) -> None:
    db = default_db_path(dataset.issues)
    assert not db.exists()
    with (
        pytest.warns(UserWarning, match="not loopback"),
        pytest.raises(InvalidParameterError, match=r"`host`.*bad\.invalid"),
    ):
        mislabel.review.serve(dataset.issues, dataset.root, host="bad.invalid", port=0)
    assert not db.exists()


def test_nothing_written_beside_the_issues_file(dataset: Dataset) -> None:
    before = sorted(Path(dataset.issues).parent.iterdir())
    with (
        pytest.warns(UserWarning, match="not loopback"),
        pytest.raises(InvalidParameterError, match=r"`host`.*bad\.invalid"),
    ):
        mislabel.review.serve(dataset.issues, dataset.root, host="bad.invalid", port=0)
    assert sorted(Path(dataset.issues).parent.iterdir()) == before
