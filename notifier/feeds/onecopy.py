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
import io
from collections.abc import Callable, Iterator

from .ical import END

BIG = 1 << 20  # larger bodies are filled piece by piece (smaller: joined, as bytes)
_TRIM_EVERY = 16 << 20  # bytes copied between two give_back() calls


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def give_back() -> None:
    """Return the C heap's free pages to the system (glibc keeps them otherwise): the
    100,000 fragments a first start renders and lets go are small pieces of it."""
    trim = getattr(_libc(), "malloc_trim", None)  # not glibc: nothing to call
    if trim is not None:
        trim(0)


_M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter


def map_large_blocks(threshold: int = 256 << 10) -> None:
    """Have glibc map every block of ``threshold`` bytes or more on its own, given back to
    the system when freed, for the rest of the process (what ``notifier run`` does).

    By default the threshold rises to 32 MB after the first large block is freed, and
    the megabytes that building, compressing and storing an ``all.ics`` of 100,000
    events allocate and free then stay in the heap, each new one beside the last."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, threshold)


def fragment_views(body: bytes, sizes: list[int]) -> Iterator[memoryview]:
    """Views of the fragments of ``sizes`` bytes that ``body`` holds, in order, right
    before its last line."""
    view = memoryview(body)
    at = len(body) - len(END) - sum(sizes)
    for n in sizes:
        yield view[at:at + n]
        at += n


def joined(parts: list[bytes | memoryview], fragments: int,
           moved: Callable[[int, memoryview | None], None]) -> bytes:
    """``parts`` (head, time zones, ``fragments`` fragments, ``END``) joined; ``moved(i,
    view)`` says where fragment ``i`` lies in the result. Empties ``parts``.

    A large body is filled first: ``moved(i, None)`` says fragment ``i`` was copied (the
    caller drops its bytes, keeping the rest of it), and once the body is complete
    ``moved(i, view)`` is called for every fragment, in order. If this raises between
    the two, fragments may have been dropped: the caller must render them again."""
    first = len(parts) - fragments - 1
    if sum(len(p) for p in parts) <= BIG:
        body = b"".join(parts)
        sizes = [len(p) for p in parts[first:first + fragments]]
        parts.clear()
        for i, v in enumerate(fragment_views(body, sizes)):
            moved(i, v)
        return body
    # Grown as written (a large buffer is moved by remapping, not copied), so that pages
    # are touched only once filled: a zero-filled buffer of the full size would count
    # all of its bytes at once, beside the fragments not yet copied and let go.
    out = io.BytesIO()
    lengths: list[int] = []
    written = trimmed = 0
    for k, p in enumerate(parts):
        out.write(p)
        written += len(p)
        parts[k] = b""
        if 0 <= k - first < fragments:
            lengths.append(len(p))
            moved(k - first, None)  # copied: the caller lets its own bytes go
        del p
        if written - trimmed > _TRIM_EVERY:
            give_back()
            trimmed = written
    parts.clear()
    body = out.getvalue()  # the buffer itself (no copy: nothing else refers to it)
    del out
    for i, v in enumerate(fragment_views(body, lengths)):
        moved(i, v)
    give_back()
    return body
