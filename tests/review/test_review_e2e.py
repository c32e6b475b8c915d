"""End to end in real headless Chromium (Debian's ``chromium``) through Playwright.

Skipped with the reason when ``/usr/bin/chromium`` is missing, except under ``CI=true``, where
that fails: ``.ci/run`` installs it. ``playwright install`` is never needed.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from review_helpers import ANNOTATORS, Dataset, Server, make_annotated_find, on_ci, start_server

from mislabel.review import export

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CLASSES = ("bird", "cat", "dog", "fish")  # the page's order: number key k is CLASSES[k - 1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        why = (
            f"{CHROMIUM} is missing; install it with `apt-get install -y "
            "--no-install-recommends chromium`"
        )
        if on_ci():
            pytest.fail(f"CI=true and {why}", pytrace=False)
        pytest.skip(why)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - playwright is a dev dependency
        if on_ci():
            pytest.fail(f"CI=true and playwright is not importable: {exc}", pytrace=False)
        pytest.skip(f"playwright is not importable: {exc}")
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)  # generous on a loaded CI machine
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(context: Any, url: str) -> Any:
    from playwright.sync_api import expect

    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    return page


def _expected(dataset: Dataset, sid: int, key: str) -> tuple[str, str]:
    """(action, final_label) that pressing ``key`` on sample ``sid`` should record."""
    row = dataset.row(sid)
    if key == "a":
        return "accepted", row["suggested_label"]
    if key == "k":
        return "kept", row["given_label"]
    if key == "r":
        return "removed", ""
    label = CLASSES[int(key) - 1]
    if label == row["given_label"]:
        return "kept", label
    if label == row["suggested_label"]:
        return "accepted", label
    return "relabeled", label


def _image_loaded(page: Any) -> bool:
    return bool(page.locator("#sample-image").evaluate("i => i.complete && i.naturalWidth > 0"))


def test_review_twenty_by_keyboard_reload_and_export(
    browser: Any, server: Server, dataset: Dataset, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    order = dataset.flagged_order
    total = len(order)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = _open(context, server.url)
    progress, sid = page.locator("#progress-text"), page.locator("#sid")
    expect(progress).to_have_text(f"0 of {total} reviewed")
    expect(sid).to_have_text(f"#{order[0]}")
    expect(page.locator("#given")).to_have_text(dataset.row(order[0])["given_label"])
    expect(page.locator("#sample-image")).to_be_visible()
    expected: dict[int, tuple[str, str]] = {}

    # Ten decisions at a human pace, checking the page shows the right sample each time.
    keys = ["a", "k", "r", "3", "a", "1", "k", "4", "r", "2"]
    for i, key in enumerate(keys):
        expect(sid).to_have_text(f"#{order[i]}")
        page.keyboard.press(key)
        expected[order[i]] = _expected(dataset, order[i], key)
        expect(progress).to_have_text(f"{i + 1} of {total} reviewed")

    # Undo the tenth (Ctrl+Z): the page goes back to it; decide it again.
    page.keyboard.press("Control+z")
    expect(progress).to_have_text(f"9 of {total} reviewed")
    expect(sid).to_have_text(f"#{order[9]}")
    expect(page.locator("#status")).to_have_text("not reviewed")
    page.keyboard.press("k")
    expected[order[9]] = _expected(dataset, order[9], "k")
    expect(progress).to_have_text(f"10 of {total} reviewed")

    # Ten more typed ahead without waiting: they queue and apply in order.
    keys = ["r", "a", "a", "1", "k", "2", "r", "4", "a", "3"]
    for i, key in enumerate(keys, start=10):
        page.keyboard.press(key)
        expected[order[i]] = _expected(dataset, order[i], key)
    expect(progress).to_have_text(f"20 of {total} reviewed")
    expect(sid).to_have_text(f"#{order[20]}")
    assert page.errors == []

    # Reload: the decisions are kept and the page resumes at the first unreviewed sample.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(progress).to_have_text(f"20 of {total} reviewed")
    expect(sid).to_have_text(f"#{order[20]}")
    page.keyboard.press("ArrowLeft")
    expect(sid).to_have_text(f"#{order[19]}")
    action, label = expected[order[19]]
    badge = {"accepted": f"accepted → {label}", "kept": f"kept {label}", "removed": "removed"}
    badge["relabeled"] = f"relabeled → {label}"
    expect(page.locator("#status")).to_have_text(badge[action])
    for _ in range(100):
        if _image_loaded(page):
            break
        page.wait_for_timeout(20)
    assert _image_loaded(page)
    shot = Path(os.environ.get("MISLABEL_REVIEW_SCREENSHOT", str(tmp_path / "review.png")))
    page.screenshot(path=str(shot))

    # The export downloaded from the page matches the library's export, and the decisions.
    with page.expect_download() as info:
        page.click("#export")
    downloaded = tmp_path / "page.csv"
    info.value.save_as(downloaded)
    reference = tmp_path / "reference.csv"
    export(dataset.issues, reference)
    assert downloaded.read_text() == reference.read_text()
    with downloaded.open(newline="") as fh:
        rows = {int(r["id"]): r for r in csv.DictReader(fh)}
    for key_id, (action, label) in expected.items():
        assert (rows[key_id]["action"], rows[key_id]["final_label"]) == (action, label)
    assert sum(r["action"] != "unreviewed" for r in rows.values()) == 20
    assert page.errors == []
    context.close()


def test_two_tabs_stay_consistent_and_mouse_works(
    browser: Any, server: Server, dataset: Dataset
) -> None:
    from playwright.sync_api import expect

    order = dataset.flagged_order
    total = len(order)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab1, tab2 = _open(context, server.url), _open(context, server.url)
    first = dataset.row(order[0])
    expect(tab2.locator("#sid")).to_have_text(f"#{order[0]}")

    tab1.click("#b-accept")  # mouse
    expect(tab1.locator("#progress-text")).to_have_text(f"1 of {total} reviewed")
    # tab2 still shows the same sample; its poll picks up tab1's decision
    expect(tab2.locator("#progress-text")).to_have_text(f"1 of {total} reviewed")
    expect(tab2.locator("#status")).to_have_text(f"accepted → {first['suggested_label']}")

    # tab2 decides the same sample: last write wins, both are in the history
    tab2.click("#b-remove")
    expect(tab2.locator("#sid")).to_have_text(f"#{order[1]}")
    tab1.keyboard.press("ArrowLeft")
    expect(tab1.locator("#sid")).to_have_text(f"#{order[0]}")
    expect(tab1.locator("#status")).to_have_text("removed")
    history = tab1.locator("#history li")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_have_text(re.compile(r"accepted → "))
    expect(history.nth(1)).to_have_text(re.compile(r"removed"))

    # the filter by class narrows the queue
    tab2.select_option("#f-given", "cat")
    expect(tab2.locator("#queue-info")).to_have_text(
        re.compile(rf"this view: {sum(dataset.row(i)['given_label'] == 'cat' for i in order)} ")
    )
    expect(tab2.locator("#given")).to_have_text("cat")
    assert tab1.errors == [] and tab2.errors == []
    context.close()


def test_votes_of_every_annotator_are_shown(
    browser: Any, server: Server, dataset: Dataset, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    plain = _open(context, server.url)  # an issues file without votes: no vote box
    expect(plain.locator("#sid")).to_have_text(f"#{dataset.flagged_order[0]}")
    expect(plain.locator("#votes")).to_be_hidden()

    issues = make_annotated_find(tmp_path / "annotated")
    voted = start_server(issues, issues.parent)
    try:
        page = _open(context, voted.url)
        expect(page.locator("#votes")).to_be_visible()
        expect(page.locator("#vote-list li")).to_have_count(len(ANNOTATORS))
        expect(page.locator("#vote-list .who")).to_have_text(list(ANNOTATORS))
        expect(page.locator("#given")).to_have_text(re.compile(r" \(consensus\)$"))
        expect(page.locator("#votes .votes-head")).to_have_text(re.compile(r"agree\)$"))
        assert plain.errors == [] and page.errors == []
    finally:
        voted.stop()
        context.close()
