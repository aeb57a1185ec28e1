"""One copy of the VEVENT bytes: the whole ``all.ics`` body, each cached fragment a
view into it.

:class:`~notifier.feeds.cache.FeedService` calls :func:`joined` when it builds
``all.ics`` (telling it where each fragment now lies, so that it can let the
fragment's own bytes go) and :func:`fragment_views` when the body is one it already
had (the stored snapshot). A large body is filled piece by piece, every piece released
once copied: a first start's 100,000 rendered VEVENTs are never held twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .ical import END

BIG = 1 << 20  # larger bodies are filled piece by piece (smaller: joined, as bytes)


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
    at = 0
    for k, p in enumerate(parts):
        n = len(p)
        view[at:at + n] = p
        parts[k] = b""
        if 0 <= k - first < fragments:
            moved(k - first, view[at:at + n])
        at += n
    parts.clear()
    return buf  # type: ignore[return-value]  # bytes-like and never changed
