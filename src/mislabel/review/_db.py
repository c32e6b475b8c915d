"""The decisions database: an append-only SQLite log (WAL) beside the issues file.

Every decision is one row of ``events`` with a monotonically increasing ``seq``; an undo is
one more row (``action = 'undo'``) naming the ``target_seq`` it cancels, so the full history
survives restarts. ``state`` holds the current decision per sample (the newest event of the
sample that no undo cancels) and is updated in the same transaction as the event. Each write
commits (``synchronous = FULL``) before the method returns, so a decision the server has
acknowledged is on disk.

Two writers (two tabs, or two servers on one database) are serialised by ``BEGIN
IMMEDIATE``; on the same sample the last write wins, and both are in ``events``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from mislabel.exceptions import InvalidInputError

__all__ = ["DECISIONS", "Decision", "Event", "State", "Store", "default_db_path", "read_states"]

Decision = Literal["accepted", "kept", "relabeled", "removed", "skipped"]
DECISIONS: tuple[str, ...] = get_args(Decision)
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id  INTEGER NOT NULL,
    action     TEXT NOT NULL
               CHECK (action IN ('accepted', 'kept', 'relabeled', 'removed', 'skipped', 'undo')),
    label      TEXT,
    target_seq INTEGER REFERENCES events(seq),
    client     TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_sample ON events(sample_id);
CREATE UNIQUE INDEX IF NOT EXISTS events_target ON events(target_seq);
CREATE TABLE IF NOT EXISTS state (
    sample_id INTEGER PRIMARY KEY,
    action    TEXT NOT NULL,
    label     TEXT,
    seq       INTEGER NOT NULL
);
"""


def default_db_path(issues_csv: Path) -> Path:
    """``issues.csv`` → ``issues.review.sqlite`` in the same folder."""
    issues_csv = Path(issues_csv)
    return issues_csv.with_name(f"{issues_csv.stem}.review.sqlite")


@dataclass(frozen=True)
class State:
    """The current decision on one sample."""

    sample_id: int
    action: str
    label: str | None
    seq: int


@dataclass(frozen=True)
class Event:
    """One row of the history."""

    seq: int
    sample_id: int
    action: str
    label: str | None
    target_seq: int | None
    client: str | None
    created_at: float
    undone: bool


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _cannot_open(path: Path, exc: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"Cannot open the decisions database {str(path)!r}: {exc}. Pass another path with "
        "--db, or move the broken file away."
    )


def _connect_or_explain(path: Path) -> sqlite3.Connection:
    try:
        return _connect(path)
    except sqlite3.DatabaseError as exc:
        raise _cannot_open(path, exc) from exc


def _states(conn: sqlite3.Connection) -> dict[int, State]:
    rows = conn.execute("SELECT sample_id, action, label, seq FROM state").fetchall()
    return {int(r[0]): State(int(r[0]), r[1], r[2], int(r[3])) for r in rows}


class Store:
    """The decisions database of one issues file.

    Args:
        path: the SQLite file; created with its folder's permissions if absent.
        fingerprint: :attr:`IssuesTable.fingerprint` of the issues file. A database made for
            another dataset (other ids or given labels) is refused.

    Thread-safe: one connection behind a lock (the web app answers from a thread pool).
    """

    def __init__(self, path: Path, *, fingerprint: str) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise InvalidInputError(
                f"The folder of the decisions database {str(self.path)!r} does not exist."
            )
        self._lock = threading.Lock()
        self._conn = _connect_or_explain(self.path)
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            with self._write() as cur:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                stored = cur.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
                if stored is None:
                    cur.execute(
                        "INSERT INTO meta(key, value) VALUES ('fingerprint', ?), "
                        "('schema_version', ?)",
                        (fingerprint, str(SCHEMA_VERSION)),
                    )
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise _cannot_open(self.path, exc) from exc
        if str(mode).lower() != "wal":
            self.close()
            raise InvalidInputError(
                f"The decisions database {str(self.path)!r} cannot use WAL journaling (got "
                f"{mode!r}); is it on a network file system? Pass a local path with --db."
            )
        if stored is not None and stored[0] != fingerprint:
            self.close()
            raise InvalidInputError(
                f"The decisions database {str(self.path)!r} was made for another dataset (its "
                "ids or given labels differ from this issues file). Pass a new path with --db, "
                "or move the old database away to start over."
            )

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One committed write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # also when COMMIT itself failed (disk full)
                    cur.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection (checkpoints the WAL when it is the last one)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writes

    def record(
        self,
        sample_id: int,
        action: Decision,
        label: str | None,
        *,
        client: str | None = None,
    ) -> State:
        """Append a decision and make it the sample's current state; durable on return."""
        if action not in DECISIONS:
            raise InvalidInputError(f"`action` must be one of {DECISIONS}; got {action!r}.")
        with self._write() as cur:
            cur.execute(
                "INSERT INTO events(sample_id, action, label, client, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (sample_id, action, label, client, time.time()),
            )
            seq = int(cur.lastrowid or 0)
            cur.execute(
                "INSERT INTO state(sample_id, action, label, seq) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(sample_id) DO UPDATE SET action = excluded.action, "
                "label = excluded.label, seq = excluded.seq",
                (sample_id, action, label, seq),
            )
        return State(sample_id, action, label, seq)

    def undo(
        self, target_seq: int | None = None, *, client: str | None = None
    ) -> tuple[Event, State | None, int] | None:
        """Cancel a decision: ``target_seq``, or the newest one not yet undone.

        Returns ``(cancelled event, the sample's new state or None, seq of the undo event)``,
        or None when there is nothing (left) to undo. Raises :class:`InvalidInputError` when
        ``target_seq`` is not a decision or is undone already.
        """
        with self._write() as cur:
            live = (
                "SELECT seq, sample_id, action, label, target_seq, client, created_at "
                "FROM events e WHERE action != 'undo' "
                "AND NOT EXISTS (SELECT 1 FROM events u WHERE u.target_seq = e.seq)"
            )
            if target_seq is None:
                row = cur.execute(live + " ORDER BY seq DESC LIMIT 1").fetchone()
                if row is None:
                    return None
            else:
                row = cur.execute(live + " AND seq = ?", (target_seq,)).fetchone()
                if row is None:
                    raise InvalidInputError(
                        f"`seq` {target_seq} is not a decision that can be undone (unknown, an "
                        "undo itself, or undone already)."
                    )
            cancelled = Event(
                int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], float(row[6]), True
            )
            cur.execute(
                "INSERT INTO events(sample_id, action, label, target_seq, client, created_at) "
                "VALUES (?, 'undo', NULL, ?, ?, ?)",
                (cancelled.sample_id, cancelled.seq, client, time.time()),
            )
            undo_seq = int(cur.lastrowid or 0)
            newest = cur.execute(
                live + " AND sample_id = ? ORDER BY seq DESC LIMIT 1", (cancelled.sample_id,)
            ).fetchone()
            if newest is None:
                cur.execute("DELETE FROM state WHERE sample_id = ?", (cancelled.sample_id,))
                state = None
            else:
                state = State(int(newest[1]), newest[2], newest[3], int(newest[0]))
                cur.execute(
                    "UPDATE state SET action = ?, label = ?, seq = ? WHERE sample_id = ?",
                    (state.action, state.label, state.seq, state.sample_id),
                )
        return cancelled, state, undo_seq

    # ------------------------------------------------------------------ reads

    def states(self) -> dict[int, State]:
        """The current decision of every decided (or skipped) sample."""
        with self._lock:
            return _states(self._conn)

    def state(self, sample_id: int) -> State | None:
        """The current decision on one sample, or None (never decided, or all undone)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT sample_id, action, label, seq FROM state WHERE sample_id = ?",
                (sample_id,),
            ).fetchone()
        return None if row is None else State(int(row[0]), row[1], row[2], int(row[3]))

    def last_seq(self) -> int:
        """The newest event's seq (0 when empty)."""
        with self._lock:
            row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(row[0])

    def changes(self, since: int) -> tuple[int, dict[int, State | None]]:
        """``(newest seq, {sample_id: current state or None})`` for the samples that have an
        event after ``since``."""
        with self._lock:
            last = int(self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
            rows = self._conn.execute(
                "SELECT DISTINCT e.sample_id, s.action, s.label, s.seq FROM events e "
                "LEFT JOIN state s ON s.sample_id = e.sample_id WHERE e.seq > ?",
                (since,),
            ).fetchall()
        out: dict[int, State | None] = {}
        for sid, action, label, seq in rows:
            out[int(sid)] = None if action is None else State(int(sid), action, label, int(seq))
        return last, out

    def history(self, sample_id: int) -> list[Event]:
        """Every event of one sample, oldest first, with ``undone`` set."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT e.seq, e.sample_id, e.action, e.label, e.target_seq, e.client, "
                "e.created_at, EXISTS (SELECT 1 FROM events u WHERE u.target_seq = e.seq) "
                "FROM events e WHERE e.sample_id = ? ORDER BY e.seq",
                (sample_id,),
            ).fetchall()
        return [
            Event(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], float(r[6]), bool(r[7]))
            for r in rows
        ]

    def events(self) -> list[Event]:
        """The whole log, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT e.seq, e.sample_id, e.action, e.label, e.target_seq, e.client, "
                "e.created_at, EXISTS (SELECT 1 FROM events u WHERE u.target_seq = e.seq) "
                "FROM events e ORDER BY e.seq"
            ).fetchall()
        return [
            Event(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], float(r[6]), bool(r[7]))
            for r in rows
        ]


def read_states(path: Path, *, fingerprint: str) -> dict[int, State]:
    """The current decisions in the database at ``path``; ``{}`` when it does not exist (no
    file is created)."""
    path = Path(path)
    if not path.exists():
        return {}
    with Store(path, fingerprint=fingerprint) as store:
        return store.states()
