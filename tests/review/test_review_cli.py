"""Reading the issues file, ``export()``, and the ``mislabel review`` command."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from review_helpers import COLUMNS, Dataset, issue_row, write_issues
from typer.testing import CliRunner

import mislabel.review
from mislabel.cli.review_cmd import review_command
from mislabel.exceptions import InvalidInputError
from mislabel.review import EXPORT_COLUMNS, default_db_path, export, is_loopback, load_issues
from mislabel.review._db import Store
from mislabel.review._server import _url


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("review")(review_command)
    app.command("other")(lambda: None)  # two commands, so that "review" stays a subcommand
    return app


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------- reading


def test_load_issues_orders_and_collects_classes(dataset: Dataset) -> None:
    table = load_issues(dataset.issues)
    assert table.classes == ("bird", "cat", "dog", "fish")
    flagged = [i for i in table.review_order if table.by_id[i].is_issue]
    assert flagged == dataset.flagged_order
    assert table.n_issues == len(dataset.flagged_order)


def test_numeric_class_names_sort_naturally(tmp_path: Path) -> None:
    rows = [
        issue_row(0, given="10", suggested="2", score=0.1, is_issue=True),
        issue_row(1, given="1", suggested="10", score=0.2, is_issue=True),
    ]
    for r in rows:  # issue_row draws the top-3 from the animal names; use numbers here
        r.update(top1_label="2", top2_label="10", top3_label="1")
    table = load_issues(write_issues(tmp_path / "i.csv", rows))
    assert table.classes == ("1", "2", "10")


def test_classes_file_sets_the_order(dataset: Dataset, tmp_path: Path) -> None:
    classes = tmp_path / "classes.txt"
    classes.write_text("fish\ndog\ncat\nbird\nhorse\n")
    app_classes = mislabel.review._load(dataset.issues, classes).classes
    assert app_classes == ("fish", "dog", "cat", "bird", "horse")
    classes.write_text("fish\ndog\n")
    with pytest.raises(InvalidInputError, match="does not list: \\['bird', 'cat'\\]"):
        mislabel.review._load(dataset.issues, classes)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"id": "x"}, "`id` in i.csv line 2 must be an integer"),
        ({"score": "1.5"}, r"`score` in i.csv line 2 must be in \[0, 1\]"),
        ({"score": "nan"}, "`score` in i.csv line 2 must be finite"),
        ({"is_issue": "maybe"}, "`is_issue` in i.csv line 2 must be true or false"),
        ({"features": "[1, 2]"}, "`features` in i.csv line 2 must be a JSON object; got list"),
        ({"features": "{oops"}, "`features` in i.csv line 2 must be a JSON object; got invalid"),
        ({"given_label": ""}, "`given_label` in i.csv line 2 is empty"),
        ({"top1_prob": "high"}, "`top1_prob` in i.csv line 2 must be a number"),
    ],
)
def test_bad_rows_name_the_column_and_line(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    row = issue_row(0, given="cat", suggested="dog", score=0.1, is_issue=True)
    row.update(change)
    with pytest.raises(InvalidInputError, match=match):
        load_issues(write_issues(tmp_path / "i.csv", [row]))


def test_missing_columns_duplicates_and_empty_files(tmp_path: Path) -> None:
    row = issue_row(0, given="cat", suggested="dog", score=0.1, is_issue=True)
    short = [c for c in COLUMNS if c not in ("score", "top3_prob")]
    trimmed = {k: v for k, v in row.items() if k in short}
    with pytest.raises(InvalidInputError, match="it lacks score, top3_prob"):
        load_issues(write_issues(tmp_path / "a.csv", [trimmed], columns=short))
    with pytest.raises(InvalidInputError, match="id 0 appears more than once"):
        load_issues(write_issues(tmp_path / "b.csv", [row, row]))
    with pytest.raises(InvalidInputError, match="has a header but no rows"):
        load_issues(write_issues(tmp_path / "c.csv", []))
    with pytest.raises(InvalidInputError, match=r"does not exist\. Create it with `mislabel find`"):
        load_issues(tmp_path / "missing.csv")
    (tmp_path / "d.csv").write_bytes(b"id,path\n\xff\xfe\n")
    with pytest.raises(InvalidInputError, match="must be UTF-8"):
        load_issues(tmp_path / "d.csv")


def test_two_classes_leave_top3_empty(tmp_path: Path) -> None:
    row = issue_row(0, given="cat", suggested="dog", score=0.1, is_issue=True)
    row.update(top2_label="cat", top3_label="", top3_prob="")
    table = load_issues(write_issues(tmp_path / "i.csv", [row]))
    assert table.samples[0].top == (("dog", row["top1_prob"]), ("cat", row["top2_prob"]))


# ----------------------------------------------------------------------------- export


def _decide(dataset: Dataset) -> dict[int, tuple[str, str]]:
    """Record a few decisions straight in the store; return id -> (action, final_label)."""
    table = load_issues(dataset.issues)
    a, b, c, d, e = dataset.flagged_order[:5]
    with Store(default_db_path(dataset.issues), fingerprint=table.fingerprint) as store:
        store.record(a, "accepted", dataset.row(a)["suggested_label"])
        store.record(b, "relabeled", "fish")
        store.record(c, "removed", None)
        store.record(d, "skipped", None)
        store.record(e, "kept", dataset.row(e)["given_label"])
        store.record(e, "removed", None)
        store.undo()  # e back to kept
    return {
        a: ("accepted", dataset.row(a)["suggested_label"]),
        b: ("relabeled", "fish"),
        c: ("removed", ""),
        d: ("unreviewed", dataset.row(d)["given_label"]),
        e: ("kept", dataset.row(e)["given_label"]),
    }


def test_export_writes_every_row_with_its_action(dataset: Dataset, tmp_path: Path) -> None:
    expected = _decide(dataset)
    out = tmp_path / "out" / "corrected.csv"
    out.parent.mkdir()
    summary = export(dataset.issues, out)
    rows = _read(out)
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [int(r["id"]) for r in rows] == [r["id"] for r in dataset.rows]
    for r in rows:
        sid = int(r["id"])
        action, final = expected.get(sid, ("unreviewed", r["given_label"]))
        assert (r["action"], r["final_label"]) == (action, final), sid
        assert r["path"] == dataset.row(sid)["path"]
    assert summary.n_rows == len(dataset.rows)
    assert summary.counts["removed"] == 1 and summary.counts["kept"] == 1
    assert summary.counts["unreviewed"] == len(dataset.rows) - 4
    assert [p.name for p in out.parent.iterdir()] == ["corrected.csv"]  # no temp file left
    assert out.stat().st_mode & 0o777 == 0o644


def test_export_without_a_database_creates_none(dataset: Dataset, tmp_path: Path) -> None:
    summary = export(dataset.issues, tmp_path / "x.csv")
    assert summary.counts["unreviewed"] == len(dataset.rows)
    assert not default_db_path(dataset.issues).exists()


def test_export_refuses_to_overwrite_its_inputs(dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="Refusing to write the export over"):
        export(dataset.issues, dataset.issues)
    with pytest.raises(InvalidInputError, match=r"folder .* does not exist"):
        export(dataset.issues, tmp_path / "no" / "such" / "dir.csv")


def test_export_replaces_atomically(
    dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.csv"
    out.write_text("previous export\n")
    import mislabel.review._export as mod

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mod.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        export(dataset.issues, out)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.csv")] == []


# ----------------------------------------------------------------------------- command


def test_cli_export(dataset: Dataset, tmp_path: Path) -> None:
    _decide(dataset)
    out = tmp_path / "cli.csv"
    result = CliRunner().invoke(_cli(), ["review", str(dataset.issues), "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {len(dataset.rows)} rows to {out}" in result.output
    assert "1 removed" in result.output
    reference = tmp_path / "ref.csv"
    export(dataset.issues, reference)
    assert out.read_text() == reference.read_text()


def test_cli_errors_are_library_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["review", str(tmp_path / "nope.csv"), "--export", "x"])
    assert isinstance(result.exception, InvalidInputError)
    assert "does not exist" in str(result.exception)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(_cli(), ["review", str(bad), "--data", str(tmp_path)])
    assert isinstance(result.exception, InvalidInputError)
    assert "it lacks id, path" in str(result.exception)


def test_cli_help_lists_the_options() -> None:
    result = CliRunner().invoke(_cli(), ["review", "--help"])
    assert result.exit_code == 0
    for option in ("--data", "--port", "--host", "--export", "--token", "--classes", "--db"):
        assert option in result.output


def test_cli_serve_passes_options_and_warns_off_loopback(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def fake_serve(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))
        kwargs["on_ready"]("http://example:1/?token=t")

    monkeypatch.setattr(mislabel.review, "serve", fake_serve)
    runner = CliRunner()
    args = ["review", str(dataset.issues), "--data", str(dataset.root), "--port", "9000"]
    result = runner.invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert "mislabel review: http://example:1/?token=t" in result.output
    (pos, kw) = calls[-1]
    assert pos == (dataset.issues, dataset.root)
    assert kw["host"] == "127.0.0.1" and kw["port"] == 9000 and kw["token"] is None

    result = runner.invoke(_cli(), [*args, "--host", "0.0.0.0", "--token", "abcdefgh12"])
    assert result.exit_code == 0, result.output
    assert calls[-1][1]["host"] == "0.0.0.0" and calls[-1][1]["token"] == "abcdefgh12"


def test_serve_off_loopback_warns_and_requires_a_token(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    ran: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: ran.append(self))
    urls: list[str] = []
    with pytest.warns(UserWarning, match="Serving on 0.0.0.0, which is not loopback"):
        mislabel.review.serve(
            dataset.issues, dataset.root, host="0.0.0.0", port=0, on_ready=urls.append
        )
    assert ran
    token = urls[0].split("?token=")[1]
    assert len(token) >= 24
    assert ran[0].config.app.state.store  # the app served is the review app


def test_loopback_detection_and_urls() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.3.2.1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")
    assert _url("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert _url("::1", 80, None) == "http://[::1]:80/"
    assert _url("10.1.2.3", 80, "tok") == "http://10.1.2.3:80/?token=tok"


def test_cli_reads_the_defaults_of_a_find_folder(
    dataset: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "issues.csv").write_bytes(dataset.issues.read_bytes())
    (out / "classes.txt").write_text("fish\ndog\ncat\nbird\n")
    (out / "find.json").write_text(json.dumps({"kind": "images", "image_root": str(dataset.root)}))
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(mislabel.review, "serve", lambda *a, **kw: calls.append({"args": a, **kw}))
    result = CliRunner().invoke(_cli(), ["review", str(out)])
    assert result.exit_code == 0, result.output
    assert calls[0]["args"] == (out / "issues.csv", dataset.root)
    assert calls[0]["classes"] == out / "classes.txt"
    # an explicit --data wins; a broken find.json is ignored
    (out / "find.json").write_text("{not json")
    result = CliRunner().invoke(_cli(), ["review", str(out), "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls[1]["args"] == (out / "issues.csv", tmp_path)
    result = CliRunner().invoke(_cli(), ["review", str(out)])
    assert calls[2]["args"] == (out / "issues.csv", None)
