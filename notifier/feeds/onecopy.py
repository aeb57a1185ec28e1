"""One copy of the VEVENT bytes: the whole ``all.ics`` body, each cached fragment a
view into it.

:class:`~notifier.feeds.cache.FeedService` calls :func:`joined` when it builds
``all.ics`` (telling it where each fragment now lies, so that it can let the
fragment's own bytes go) and :func:`fragment_views` when the body is one it already
had (the stored snapshot). A large body is filled piece by piece, every piece released
once copied: a first start's 100,000 rendered VEVENTs are never held twice.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable, Iterator

from .ical import END

BIG = 1 << 20  # larger bodies are filled piece by piece (smaller: joined, as bytes)
_TRIM_EVERY = 16 << 20  # bytes copied between two give_back() calls


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


def give_back() -> None:
    """Return the C heap's free pages to the system (glibc keeps them otherwise): the
    100,000 fragments a first start renders and lets go are small pieces of it."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def fragment_views(body: bytes, sizes: list[int]) -> Iterator[memoryview]:
    """Views of the fragments of ``sizes`` bytes that ``body`` holds, in order, right
    before its last line."""
    view = memoryview(body)
    at = len(body) - len(END) - sum(sizes)
    for n in sizes:
        yield view[at:at + n]
        at += n


def joined(parts: list[bytes | memoryview], fragments: int,
           moved: Callable[[int, memoryview], None]) -> bytes:
    """``parts`` (head, time zones, ``fragments`` fragments, ``END``) joined; ``moved(i,
    view)`` says where fragment ``i`` lies in the result. Empties ``parts``."""
    first = len(parts) - fragments - 1
    total = sum(len(p) for p in parts)
    if total <= BIG:
        body = b"".join(parts)
        sizes = [len(p) for p in parts[first:first + fragments]]
        parts.clear()
        for i, v in enumerate(fragment_views(body, sizes)):
            moved(i, v)
        return body
    buf = bytearray(total)
    view = memoryview(buf)
    at = trimmed = 0
    for k, p in enumerate(parts):
        n = len(p)
        view[at:at + n] = p
        parts[k] = b""
        if 0 <= k - first < fragments:
            moved(k - first, view[at:at + n])
        at += n
        if at - trimmed > _TRIM_EVERY:
            give_back()
            trimmed = at
    parts.clear()
    give_back()
    return buf  # type: ignore[return-value]  # bytes-like and never changed
