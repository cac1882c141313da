"""A small on-disk store in one SQLite file that the processes of one machine share.

Used by the LLM response cache and the Verus result cache. WAL mode lets several worker
processes read and write at once; a connection is never reused across ``fork``.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path


TIMEOUT = 60.0  # seconds a statement waits for another process's lock


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (persistent, so only its first opener changes it).

    SQLite answers "database is locked" at once, without waiting, when two processes
    convert a new file at the same moment: retry until ``TIMEOUT``.
    """
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteStore:
    """Base for caches: subclasses set ``file_name`` and ``schema_sql`` (CREATE TABLE IF NOT EXISTS ...)."""

    file_name = "store.sqlite3"
    schema_sql = ""

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory).expanduser() / self.file_name
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1

    def _connection(self) -> sqlite3.Connection:
        """The open connection of this process (call with ``self._lock`` held)."""
        if self._conn is None or self._pid != os.getpid():  # never reuse a connection across fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=TIMEOUT, isolation_level=None, check_same_thread=False)
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(self.schema_sql)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        """Close this process's connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
