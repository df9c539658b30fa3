"""Memory pages for the big arrays of a read or a build: without NumPy's huge-page advice.

NumPy advises the kernel to back every allocation of 4 MiB or more with transparent huge
pages (``madvise(MADV_HUGEPAGE)``). Where the kernel's THP ``defrag`` setting is ``madvise``
(the default of many distributions), every first touch of such memory may compact memory
synchronously to find a free 2 MiB page. On a long-running machine whose memory is fragmented
that stall dominates: filling a fresh 2M x 12 x 17 float32 array (1.6 GB, the sequences of a
20M-row build with events) took 2.8-5.8 s with the advice and 0.9 s without it on the 2-core
benchmark VM (``benchmarks/bench_prepare.py``; BENCHMARKS.md). A read or a build writes each
array once, front to back, so ordinary pages lose nothing there.

:func:`plain_pages` turns the advice off for the arrays allocated inside it and restores the
previous setting after. It is NumPy's own switch (the one the ``NUMPY_MADVISE_HUGEPAGE``
environment variable sets at import); where a NumPy build lacks it, the scope does nothing.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

try:  # NumPy >= 2
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # pragma: no cover - NumPy 1.x keeps it in numpy.core
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None

F = TypeVar("F", bound=Callable)
# Scopes nest and may run in several threads: the advice is off while any scope is open,
# and the setting found by the first one is put back by the last one.
_lock = threading.Lock()
_open = 0
_before = True


@contextlib.contextmanager
def plain_pages() -> Iterator[None]:
    """Allocate the arrays made inside this scope without huge-page advice."""
    global _open, _before
    if _set_madvise_hugepage is None:
        yield
        return
    with _lock:
        if _open == 0:
            _before = _set_madvise_hugepage(False)
        _open += 1
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0:
                _set_madvise_hugepage(_before)


def with_plain_pages(function: F) -> F:
    """Decorator: run ``function`` inside :func:`plain_pages`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with plain_pages():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
