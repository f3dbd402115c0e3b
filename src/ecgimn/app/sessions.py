"""Per-browser session stores and bounded work lanes.

Each browser gets a session cookie and its own store of recordings (at most :data:`RECORDS_PER_SESSION` and a
byte quota; only its own oldest are dropped, never another client's); sessions idle for :data:`SESSION_TTL_S`
expire. Stored recordings are found by a random id, never by a server path. Work runs in bounded lanes
(reading, model, pictures), each with a few slots and a short waiting queue: a request that cannot start within
its wait time gets ``503`` "server busy, retry in N s" (``Retry-After``) instead of stalling everyone.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ecgimn.app.errors import AppError, busy
from ecgimn.io.recording import Recording

#: recordings one session holds (its own oldest dropped first)
RECORDS_PER_SESSION = 8
#: bytes one session may hold (signals, model outputs, cached pictures)
SESSION_QUOTA_MB = 64
#: sessions held at once (a new one beyond this gets 503 until an idle one expires)
MAX_SESSIONS = 256
#: all sessions together (a load over this gets 503; nobody's records are dropped for it)
MEMORY_MB = 2048
#: a session unused for this long is dropped with its recordings
SESSION_TTL_S = 1800
SESSION_COOKIE = "ecgimn_session"
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_RID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Entry:
    """One recording held by the server, with its model output and rendered pictures cached."""

    recording: Recording
    label: str
    kind: Literal["upload", "ptbxl", "synthetic"]
    input_sha256: str | None = None  # of the uploaded / read file(s); None: of the signal
    reference: list[str] | None = None  # PTB-XL ground-truth labels (shown for reference only)
    explanation: Any = None  # the model output for recording.signal (computed once; options do not change it)
    figures: dict[tuple, bytes] = field(default_factory=dict)
    #: one drawing at a time per recording: the picture and heatmap requests of one view share one render
    drawing: threading.Lock = field(default_factory=threading.Lock)

    def nbytes(self) -> int:
        """Memory held: signal, model output arrays, cached pictures."""
        n = self.recording.signal.nbytes + sum(len(b) for b in list(self.figures.values()))
        if self.explanation is not None:
            n += sum(v.nbytes for v in vars(self.explanation).values() if isinstance(v, np.ndarray))
        return n


class Store:
    """One session's recordings under random ids: at most ``size`` and ``quota`` bytes; its own oldest go first."""

    def __init__(self, size: int = RECORDS_PER_SESSION, quota: int = SESSION_QUOTA_MB << 20) -> None:
        self.size = size
        self.quota = quota
        self.used = time.monotonic()
        self.items: OrderedDict[str, Entry] = OrderedDict()

    def nbytes(self) -> int:
        return sum(e.nbytes() for e in list(self.items.values()))

    def trim(self, keep: str | None = None) -> None:
        while len(self.items) > 1 and (len(self.items) > self.size or self.nbytes() > self.quota):
            oldest = next(iter(self.items))
            if oldest == keep:
                self.items.move_to_end(oldest)
                oldest = next(iter(self.items))
            self.items.pop(oldest)

    def add(self, entry: Entry) -> str:
        rid = secrets.token_hex(16)
        self.items[rid] = entry
        self.trim(keep=rid)
        return rid

    def get(self, rid: str) -> Entry:
        entry = self.items.get(rid) if _RID.match(rid or "") else None
        if entry is None:
            raise AppError(
                404,
                f"this recording is no longer held by the server (each browser session keeps its "
                f"{self.size} most recent ones for {SESSION_TTL_S // 60} minutes); load it again",
            )
        self.items.move_to_end(rid)
        return entry


class Sessions:
    """Per-client stores keyed by a session cookie (thread-safe). A client's records are only ever dropped for
    its own quota or its own expiry; when the server is full, new work gets 503 instead."""

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        per_session: int = RECORDS_PER_SESSION,
        quota_mb: float = SESSION_QUOTA_MB,
        memory_mb: float = MEMORY_MB,
        ttl_s: float = SESSION_TTL_S,
    ) -> None:
        self.max_sessions = max_sessions
        self.per_session = per_session
        self.quota = int(quota_mb * 2**20)
        self.memory = int(memory_mb * 2**20)
        self.ttl_s = ttl_s
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()

    def _expire(self, empty_after_s: float | None = None) -> None:
        """Drop sessions idle for the TTL (and, with ``empty_after_s``, those holding nothing idle that long:
        nobody loses a record, and cookie-less clients cannot fill the table with empty sessions)."""
        now = time.monotonic()
        for sid in [
            k for k, st in self._stores.items()
            if now - st.used > self.ttl_s or (empty_after_s is not None and not st.items and now - st.used > empty_after_s)
        ]:  # fmt: skip
            del self._stores[sid]

    def _retry_s(self) -> float:
        oldest = min((st.used for st in self._stores.values()), default=time.monotonic())
        return max(1.0, self.ttl_s - (time.monotonic() - oldest))

    def open(self, sid: str | None) -> str:
        """The session id to use: ``sid`` when it is held, else a new one (503 when the server is full)."""
        with self._lock:
            if sid and sid in self._stores:
                self._stores[sid].used = time.monotonic()
                return sid
            self._expire()
            if len(self._stores) >= self.max_sessions:
                self._expire(empty_after_s=5.0)
            if len(self._stores) >= self.max_sessions:
                raise busy(f"{self.max_sessions} sessions open", min(self._retry_s(), 60))
            new = secrets.token_urlsafe(24)
            self._stores[new] = Store(self.per_session, self.quota)
            return new

    def _others(self, sid: str) -> int:
        return sum(st.nbytes() for k, st in self._stores.items() if k != sid)

    def add(self, sid: str, entry: Entry) -> str:
        with self._lock:
            store = self._stores.get(sid)
            if store is None:
                raise AppError(409, "your session expired; reload the page")
            store.used = time.monotonic()
            if self._others(sid) + entry.nbytes() > self.memory:
                self._expire()
                if self._others(sid) + entry.nbytes() > self.memory:
                    raise busy("memory for held recordings is full", 60)
            return store.add(entry)

    def discard(self, sid: str, rid: str) -> None:
        with self._lock:
            store = self._stores.get(sid)
            if store is not None:
                store.items.pop(rid, None)

    def get(self, sid: str | None, rid: str) -> Entry:
        with self._lock:
            store = self._stores.get(sid or "")
            if store is None:
                return Store().get("")  # the 404 message
            store.used = time.monotonic()
            return store.get(rid)

    def after_figure(self, sid: str | None) -> None:
        with self._lock:
            store = self._stores.get(sid or "")
            if store is not None:
                store.trim()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "sessions": len(self._stores),
                "records": sum(len(st.items) for st in self._stores.values()),
            }


class Lane:
    """A bounded work queue: ``slots`` jobs at once, at most ``max_waiting`` waiting, each for at most
    ``wait_s``; otherwise 503 with an estimate of when to retry (from the recent job times)."""

    def __init__(self, name: str, slots: int, max_waiting: int, wait_s: float) -> None:
        self.name = name
        self.slots = slots
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self._sem = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.waiting = 0
        self.avg_s = 0.5

    def _retry(self) -> AppError:
        return busy(f"{self.name} queue full", self.avg_s * (self.waiting + 1) / self.slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._lock:
            if self.waiting >= self.max_waiting:
                raise self._retry()
            self.waiting += 1
        try:
            ok = self._sem.acquire(timeout=self.wait_s)
        finally:
            with self._lock:
                self.waiting -= 1
        if not ok:
            raise self._retry()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sem.release()
            with self._lock:
                self.avg_s = 0.8 * self.avg_s + 0.2 * (time.perf_counter() - t0)
