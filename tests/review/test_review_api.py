"""HTTP API of the review page, through FastAPI's test client."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_helpers import Dataset, issue_row, write_issues

from mislabel.exceptions import InvalidInputError
from mislabel.review import create_app, default_db_path, export
from mislabel.review._db import Store

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def app(dataset: Dataset) -> Iterator[FastAPI]:
    application = create_app(dataset.issues, dataset.root)
    yield application
    application.state.store.close()


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE)


def headers(app: FastAPI) -> dict[str, str]:
    return {"X-Mislabel-Token": app.state.csrf_token}


def decide(client: TestClient, app: FastAPI, sid: int, action: str, label: str | None = None):
    body: dict[str, object] = {"id": sid, "action": action}
    if label is not None:
        body["label"] = label
    return client.post("/api/decisions", json=body, headers=headers(app))


# ----------------------------------------------------------------------------- reading


def test_page_embeds_the_csrf_token_and_sets_security_headers(
    client: TestClient, app: FastAPI
) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert f'content="{app.state.csrf_token}"' in r.text
    assert "issues.csv" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_meta_lists_classes_and_counts(client: TestClient, dataset: Dataset) -> None:
    meta = client.get("/api/meta").json()
    assert meta["classes"] == ["bird", "cat", "dog", "fish"]
    assert meta["n_samples"] == len(dataset.rows)
    assert meta["n_issues"] == len(dataset.flagged_order)
    assert meta["progress"]["reviewed"] == 0
    assert meta["kinds"]["image"] is True


def test_queue_is_flagged_most_suspect_first(client: TestClient, dataset: Dataset) -> None:
    items = client.get("/api/queue").json()["items"]
    assert [it["id"] for it in items] == dataset.flagged_order
    assert {it["status"] for it in items} == {"pending"}
    everything = client.get("/api/queue", params={"scope": "all"}).json()["items"]
    assert len(everything) == len(dataset.rows)
    scores = [float(dataset.row(it["id"])["score"]) for it in everything]
    assert scores == sorted(scores)


def test_queue_filters_by_class_and_score(client: TestClient, dataset: Dataset) -> None:
    items = client.get("/api/queue", params={"given": "cat"}).json()["items"]
    assert items and all(dataset.row(it["id"])["given_label"] == "cat" for it in items)
    items = client.get("/api/queue", params={"suggested": "dog"}).json()["items"]
    assert items and all(dataset.row(it["id"])["suggested_label"] == "dog" for it in items)
    items = client.get("/api/queue", params={"min_score": 0.1, "max_score": 0.3}).json()["items"]
    assert items and all(0.1 <= float(dataset.row(it["id"])["score"]) <= 0.3 for it in items)
    assert client.get("/api/queue", params={"max_score": 2}).status_code == 422
    assert client.get("/api/queue", params={"scope": "some"}).status_code == 422


def test_sample_details(client: TestClient, dataset: Dataset) -> None:
    sid = dataset.flagged_order[0]
    s = client.get(f"/api/samples/{sid}").json()
    row = dataset.row(sid)
    assert s["given_label"] == row["given_label"]
    assert s["suggested_label"] == row["suggested_label"]
    assert s["score"] == pytest.approx(float(row["score"]))
    assert [t["label"] for t in s["top"]] == [row[f"top{k}_label"] for k in (1, 2, 3)]
    assert s["status"] == "pending" and s["history"] == []
    img = client.get(s["file_url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content.startswith(b"\x89PNG")
    assert "sandbox" in img.headers["content-security-policy"]
    assert client.get("/api/samples/99999").status_code == 404


def test_text_and_feature_rows(tmp_path: Path) -> None:
    rows = [
        issue_row(0, given="cat", suggested="dog", score=0.1, is_issue=True, text="a <b>dog</b>"),
        issue_row(
            1,
            given="dog",
            suggested="cat",
            score=0.2,
            is_issue=True,
            features=json.dumps({"age": 3, "colour": "red"}),
        ),
    ]
    issues = write_issues(tmp_path / "issues.csv", rows)
    app = create_app(issues)
    try:
        client = TestClient(app, base_url=BASE)
        t = client.get("/api/samples/0").json()
        assert t["text"] == "a <b>dog</b>" and t["file_url"] is None
        f = client.get("/api/samples/1").json()
        assert f["features"] == {"age": 3, "colour": "red"}
        assert client.get("/api/meta").json()["kinds"] == {
            "image": False,
            "text": True,
            "features": True,
        }
    finally:
        app.state.store.close()


# ----------------------------------------------------------------------------- decisions


def test_each_action_is_recorded_and_exported(
    client: TestClient, app: FastAPI, dataset: Dataset, tmp_path: Path
) -> None:
    a, b, c, d, e = dataset.flagged_order[:5]
    ra = decide(client, app, a, "accepted").json()
    assert ra["status"] == "accepted" and ra["label"] == dataset.row(a)["suggested_label"]
    rb = decide(client, app, b, "kept").json()
    assert rb["status"] == "kept" and rb["label"] == dataset.row(b)["given_label"]
    other = next(
        x
        for x in ("bird", "cat", "dog", "fish")
        if x not in (dataset.row(c)["given_label"], dataset.row(c)["suggested_label"])
    )
    rc = decide(client, app, c, "relabeled", other).json()
    assert rc["status"] == "relabeled" and rc["label"] == other
    rd = decide(client, app, d, "removed").json()
    assert rd["status"] == "removed" and rd["label"] is None
    re_ = decide(client, app, e, "skipped").json()
    assert re_["status"] == "skipped"
    assert re_["progress"]["reviewed"] == 4 and re_["progress"]["skipped"] == 1
    assert ra["seq"] < rb["seq"] < rc["seq"] < rd["seq"] < re_["seq"]

    page_csv = client.get("/api/export.csv")
    assert page_csv.headers["content-disposition"] == 'attachment; filename="issues.corrected.csv"'
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(page_csv.text))}
    assert len(rows) == len(dataset.rows)
    assert rows[a]["action"] == "accepted" and rows[a]["final_label"] == ra["label"]
    assert rows[b]["action"] == "kept" and rows[b]["final_label"] == rb["label"]
    assert rows[c]["action"] == "relabeled" and rows[c]["final_label"] == other
    assert rows[d]["action"] == "removed" and rows[d]["final_label"] == ""
    assert rows[e]["action"] == "unreviewed" and rows[e]["final_label"] == rows[e]["given_label"]

    out = tmp_path / "out.csv"
    export(dataset.issues, out)
    assert out.read_text() == page_csv.text


def test_relabel_to_given_or_suggested_is_kept_or_accepted(
    client: TestClient, app: FastAPI, dataset: Dataset
) -> None:
    a, b = dataset.flagged_order[:2]
    assert decide(client, app, a, "relabeled", dataset.row(a)["given_label"]).json()["status"] == (
        "kept"
    )
    r = decide(client, app, b, "relabeled", dataset.row(b)["suggested_label"]).json()
    assert r["status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": 0, "action": "relabeled"}, 422),
        ({"id": 0, "action": "relabeled", "label": "zebra"}, 422),
        ({"id": 0, "action": "burn"}, 422),
        ({"id": 123456, "action": "kept"}, 404),
        ({"action": "kept"}, 422),
    ],
)
def test_bad_decisions_are_refused(
    client: TestClient, app: FastAPI, body: dict[str, object], status: int
) -> None:
    r = client.post("/api/decisions", json=body, headers=headers(app))
    assert r.status_code == status
    assert app.state.store.last_seq() == 0


def test_undo_newest_then_specific_then_nothing(
    client: TestClient, app: FastAPI, dataset: Dataset
) -> None:
    a, b = dataset.flagged_order[:2]
    first = decide(client, app, a, "accepted").json()
    second = decide(client, app, b, "removed").json()
    r = client.post("/api/undo", json={}, headers=headers(app)).json()
    assert r["undone"]["seq"] == second["seq"] and r["id"] == b and r["status"] == "pending"
    # undoing an undone decision, or an unknown seq, is a conflict
    again = client.post("/api/undo", json={"seq": second["seq"]}, headers=headers(app))
    assert again.status_code == 409
    assert client.post("/api/undo", json={"seq": 999}, headers=headers(app)).status_code == 409
    r = client.post("/api/undo", json={"seq": first["seq"]}, headers=headers(app)).json()
    assert r["id"] == a and r["status"] == "pending"
    nothing = client.post("/api/undo", json={}, headers=headers(app))
    assert nothing.status_code == 409 and "Nothing to undo" in nothing.text
    history = client.get(f"/api/samples/{a}").json()["history"]
    assert [h["action"] for h in history] == ["accepted", "undo"]
    assert history[0]["undone"] is True


def test_undo_restores_the_previous_decision_of_the_sample(
    client: TestClient, app: FastAPI, dataset: Dataset
) -> None:
    a = dataset.flagged_order[0]
    decide(client, app, a, "accepted")
    decide(client, app, a, "removed")
    r = client.post("/api/undo", json={}, headers=headers(app)).json()
    assert r["status"] == "accepted"


def test_decisions_survive_a_restart(dataset: Dataset) -> None:
    app = create_app(dataset.issues, dataset.root)
    client = TestClient(app, base_url=BASE)
    a, b = dataset.flagged_order[:2]
    decide(client, app, a, "removed")
    decide(client, app, b, "kept")
    client.post("/api/undo", json={}, headers=headers(app))
    app.state.store.close()

    app2 = create_app(dataset.issues, dataset.root)
    try:
        client2 = TestClient(app2, base_url=BASE)
        items = {it["id"]: it["status"] for it in client2.get("/api/queue").json()["items"]}
        assert items[a] == "removed" and items[b] == "pending"
        assert app2.state.csrf_token != app.state.csrf_token
        assert client2.get("/api/meta").json()["seq"] == 3
        assert default_db_path(dataset.issues).exists()
    finally:
        app2.state.store.close()


def test_two_tabs_see_each_other_and_last_write_wins(app: FastAPI, dataset: Dataset) -> None:
    tab1 = TestClient(app, base_url=BASE)
    tab2 = TestClient(app, base_url=BASE)
    seq0 = tab2.get("/api/queue").json()["seq"]
    a = dataset.flagged_order[0]
    decide(tab1, app, a, "kept")
    seen = tab2.get("/api/changes", params={"since": seq0}).json()
    assert seen["changes"] == [{"id": a, "status": "kept", "label": dataset.row(a)["given_label"]}]
    assert seen["progress"]["reviewed"] == 1
    decide(tab2, app, a, "removed")
    assert tab1.get(f"/api/samples/{a}").json()["status"] == "removed"
    assert [h["action"] for h in tab1.get(f"/api/samples/{a}").json()["history"]] == [
        "kept",
        "removed",
    ]
    assert tab1.get("/api/changes", params={"since": seen["seq"]}).json()["changes"] == [
        {"id": a, "status": "removed", "label": None}
    ]


def test_two_servers_on_one_database_stay_consistent(dataset: Dataset) -> None:
    apps = [create_app(dataset.issues, dataset.root) for _ in range(2)]
    clients = [TestClient(a, base_url=BASE) for a in apps]
    ids = dataset.flagged_order
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for sid in ids:
                r = decide(clients[k], apps[k], sid, "kept" if k else "removed")
                assert r.status_code == 200
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        events = apps[0].state.store.events()
        assert len(events) == 2 * len(ids)
        assert [e.seq for e in events] == sorted({e.seq for e in events})
        states = apps[1].state.store.states()
        for sid in ids:
            newest = max((e for e in events if e.sample_id == sid), key=lambda e: e.seq)
            assert states[sid].action == newest.action and states[sid].seq == newest.seq
    finally:
        for a in apps:
            a.state.store.close()


# ----------------------------------------------------------------------------- protection


def test_mutations_need_the_csrf_header(client: TestClient, app: FastAPI) -> None:
    body = {"id": 0, "action": "kept"}
    assert client.post("/api/decisions", json=body).status_code == 403
    wrong = {"X-Mislabel-Token": "x" * 43}
    assert client.post("/api/decisions", json=body, headers=wrong).status_code == 403
    assert client.post("/api/undo", json={}).status_code == 403
    assert app.state.store.last_seq() == 0


def test_cross_site_requests_are_refused(client: TestClient, app: FastAPI) -> None:
    body = {"id": 0, "action": "kept"}
    h = headers(app)
    evil = {**h, "Origin": "http://evil.example"}
    assert client.post("/api/decisions", json=body, headers=evil).status_code == 403
    other_port = {**h, "Origin": "http://127.0.0.1:9999"}
    assert client.post("/api/decisions", json=body, headers=other_port).status_code == 403
    cross = {**h, "Sec-Fetch-Site": "cross-site"}
    assert client.post("/api/decisions", json=body, headers=cross).status_code == 403
    form = client.post("/api/decisions", content="id=0&action=kept", headers={**h, **_form_type()})
    assert form.status_code == 415
    assert app.state.store.last_seq() == 0
    same = {**h, "Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/decisions", json=body, headers=same).status_code == 200


def _form_type() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


def test_cors_preflight_is_not_granted(client: TestClient) -> None:
    r = client.options(
        "/api/decisions",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-mislabel-token",
        },
    )
    assert "access-control-allow-origin" not in r.headers
    assert r.status_code >= 400


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "192.168.1.5:8765"])
def test_foreign_host_header_is_refused_on_loopback(app: FastAPI, host: str) -> None:
    client = TestClient(app, base_url=BASE)
    r = client.get("/api/meta", headers={"Host": host})
    assert r.status_code == 400


@pytest.mark.parametrize("base", ["http://localhost:8765", "http://[::1]:8765", BASE])
def test_loopback_host_names_are_accepted(app: FastAPI, base: str) -> None:
    assert TestClient(app, base_url=base).get("/api/meta").status_code == 200


def test_access_token_mode(dataset: Dataset) -> None:
    token = "s3cret-token-123"
    app = create_app(dataset.issues, dataset.root, token=token)
    try:
        client = TestClient(app, base_url="http://10.0.0.7:8765")
        assert client.get("/").status_code == 401
        assert client.get("/api/meta").status_code == 401
        assert client.get("/?token=wrong-token-000").status_code == 401
        r = client.get(f"/?token={token}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        client.cookies.set("mislabel_access", token)
        assert client.get("/").status_code == 200
        assert client.get("/api/meta").status_code == 200
        h = headers(app)
        assert client.post("/api/decisions", json={"id": 0, "action": "kept"}, headers=h).is_success
        stranger = TestClient(app, base_url="http://10.0.0.7:8765")
        assert (
            stranger.post("/api/decisions", json={"id": 0, "action": "kept"}, headers=h).status_code
            == 401
        )
    finally:
        app.state.store.close()


# ----------------------------------------------------------------------------- bad input


def test_database_of_another_dataset_is_refused(dataset: Dataset, tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    Store(db, fingerprint="not-this-dataset").close()
    with pytest.raises(InvalidInputError, match="made for another dataset"):
        create_app(dataset.issues, dataset.root, db_path=db)


def test_missing_data_root_is_refused(dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"data root .* is not a folder"):
        create_app(dataset.issues, tmp_path / "nope")


def test_short_access_token_is_refused(dataset: Dataset) -> None:
    with pytest.raises(InvalidInputError, match="at least 8 characters"):
        create_app(dataset.issues, dataset.root, token="abc")


def test_only_the_database_is_written(dataset: Dataset, client: TestClient, app: FastAPI) -> None:
    before = {p for p in dataset.issues.parent.rglob("*")}
    decide(client, app, dataset.flagged_order[0], "kept")
    client.get("/api/export.csv")
    after = {p for p in dataset.issues.parent.rglob("*")}
    db = default_db_path(dataset.issues)
    assert {p.name for p in after - before} <= {db.name, db.name + "-wal", db.name + "-shm"}


def test_a_file_that_is_not_a_database_is_refused(dataset: Dataset, tmp_path: Path) -> None:
    db = tmp_path / "broken.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InvalidInputError, match="Cannot open the decisions database"):
        create_app(dataset.issues, dataset.root, db_path=db)


def test_a_failed_write_leaves_the_store_usable(tmp_path: Path) -> None:
    with Store(tmp_path / "d.sqlite", fingerprint="f") as store:
        with pytest.raises(InvalidInputError, match="`action` must be one of"):
            store.record(1, "burn", None)  # type: ignore[arg-type]
        with pytest.raises(sqlite3.IntegrityError), store._write() as cur:
            cur.execute("INSERT INTO events(sample_id, action, created_at) VALUES (1, 'x', 0)")
        assert store.record(1, "kept", "cat").seq == 1
        assert store.state(1) is not None and store.state(2) is None
