"""An acknowledged decision is durable: SIGKILL the server in the middle of a burst, reopen
the database, and find every decision that got a 2xx answer."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx
from review_helpers import Dataset, start_server

from mislabel.review import default_db_path
from mislabel.review._db import Store

N_WORKERS = 4
KILL_AFTER = 120  # acknowledged decisions before the kill


def test_sigkill_mid_burst_loses_no_acknowledged_decision(dataset: Dataset) -> None:
    server = start_server(dataset.issues, dataset.root)
    try:
        token = server.csrf_token()
        ids = dataset.flagged_order
        actions = ["accepted", "kept", "removed", "skipped", "relabeled"]
        acked: list[tuple[int, int, str]] = []  # (seq, sample id, action stored)
        failed = 0
        lock = threading.Lock()
        stop = threading.Event()

        def worker(k: int) -> None:
            nonlocal failed
            with httpx.Client(
                base_url=server.url, headers={"X-Mislabel-Token": token}, timeout=10
            ) as client:
                i = k
                while not stop.is_set():
                    sid = ids[i % len(ids)]
                    action = actions[i % len(actions)]
                    body: dict[str, object] = {"id": sid, "action": action, "client": f"w{k}"}
                    if action == "relabeled":
                        body["label"] = "fish"
                    try:
                        r = client.post("/api/decisions", json=body)
                    except httpx.HTTPError:
                        with lock:
                            failed += 1
                        return  # the server is gone
                    if r.is_success:
                        with lock:
                            acked.append((r.json()["seq"], sid, r.json()["status"]))
                    i += N_WORKERS

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(N_WORKERS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-burst: the workers are still posting
        server.proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        assert server.proc.returncode == -signal.SIGKILL
        assert len(acked) >= KILL_AFTER, "the burst was too slow to reach the kill point"
        assert failed >= 1, "the workers never noticed the server die"
    finally:
        server.stop()

    db = default_db_path(dataset.issues)
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    with Store(db, fingerprint=_fingerprint(dataset)) as store:
        events = {e.seq: e for e in store.events()}
        for seq, sid, action in acked:
            assert seq in events, f"acknowledged decision {seq} lost"
            assert events[seq].sample_id == sid and events[seq].action == action
        # state agrees with the log: newest event per sample
        states = store.states()
        for sid in {e.sample_id for e in events.values()}:
            newest = max((e for e in events.values() if e.sample_id == sid), key=lambda e: e.seq)
            assert states[sid].seq == newest.seq
    assert len(events) >= len(acked)


def _fingerprint(dataset: Dataset) -> str:
    from mislabel.review import load_issues

    return load_issues(dataset.issues).fingerprint
