"""The review page's API shows every annotator's vote when the issues file has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from review_helpers import ANNOTATORS, Dataset, issue_row, make_annotated_find, write_issues

from mislabel.exceptions import InvalidInputError
from mislabel.review import create_app
from mislabel.review._data import load_issues


def test_sample_api_lists_every_vote_and_the_agreement(tmp_path: Path) -> None:
    issues = make_annotated_find(tmp_path)
    app = create_app(issues, tmp_path)
    try:
        client = TestClient(app, base_url="http://127.0.0.1:8765")
        for sid in (0, 7):
            s = client.get(f"/api/samples/{sid}").json()
            votes = {v["annotator"]: v["label"] for v in s["votes"]}
            assert set(votes) == set(ANNOTATORS)
            share = sum(lab == s["given_label"] for lab in votes.values()) / len(votes)
            assert s["agreement"] == pytest.approx(share)
            assert set(s["features"]) == {"x1", "x2"}
    finally:
        app.state.store.close()


def test_samples_without_votes_say_so(dataset: Dataset) -> None:
    app = create_app(dataset.issues, dataset.root)
    try:
        s = TestClient(app, base_url="http://127.0.0.1:8765").get("/api/samples/0").json()
        assert s["votes"] is None and s["agreement"] is None
    finally:
        app.state.store.close()


def test_a_votes_cell_that_is_not_a_json_object_is_refused(tmp_path: Path) -> None:
    votes = json.dumps(["cat", "dog"])
    row = issue_row(0, given="cat", suggested="dog", score=0.1, is_issue=True, votes=votes)
    path = write_issues(tmp_path / "issues.csv", [row])
    with pytest.raises(InvalidInputError, match=r"`votes` in issues.csv line 2 must be a JSON"):
        load_issues(path)
