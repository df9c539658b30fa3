"""The long-lived objects of a server kept out of the cyclic garbage collector's passes.

A loaded service holds some 400,000 objects that live as long as the process (the modules of
NumPy, pandas, torch, LightGBM, DuckDB, FastAPI, and the model). Python's oldest-generation
collection walks every one of them; a large request (1,000 customers: thousands of request
objects that outlive the youngest generations) triggers one every few requests, and each took
about 170 ms on the 2-core benchmark VM, a pause for every request in flight (the 1,000-customer
requests' p95 latency was 185-193 ms against a p50 of 21-25 ms). :func:`gc.freeze` moves the
objects alive after start-up to a permanent generation the passes skip; they are freed by
reference counting as before, only their reference cycles are no longer looked for.

A model replaced by a reload may hold reference cycles (a torch network does), which a frozen
heap would keep forever: the reload unfreezes the heap, and once the old model is gone (freed
with its last request), the next request settles the heap again (one full collection, then
freeze).
"""

from __future__ import annotations

import gc
import threading
import weakref


class FrozenHeap:
    """Freeze the heap after start-up; thaw it while a replaced model may still be collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False  # an old model was freed: settle at the next check
        self._waiting = 0  # replaced models not freed yet

    def settle(self) -> None:
        """Collect every cycle now, then freeze what is left (call when nothing is pending)."""
        gc.collect()
        gc.freeze()

    def replaced(self, old: object) -> None:
        """``old`` (a model) was replaced: thaw the heap so its cycles can be collected, and
        settle again once it has been freed."""
        with self._lock:
            self._waiting += 1
        gc.unfreeze()
        weakref.finalize(old, self._freed)

    def _freed(self) -> None:
        # Runs when ``old`` is freed, possibly inside a collection: only note it.
        with self._lock:
            self._waiting -= 1
            self._pending = self._waiting == 0

    def check(self) -> None:
        """Settle the heap if every replaced model has been freed since the last reload (one
        attribute read when there is nothing to do)."""
        if not self._pending:
            return
        with self._lock:
            if not self._pending:
                return
            self._pending = False
        self.settle()
