"""Request bodies read with limits: size, type and time, before anything looks at them.

Every handler that reads a body calls :func:`read_form` (the ``/follow`` forms:
``application/x-www-form-urlencoded``, at most :data:`FORM_LIMIT` bytes) or
:func:`read_body` (any other body, with its own limit). A body is refused before it
is read when its ``Content-Length`` is over the limit (413) or its type is not one
accepted (415); a chunked body is counted as it arrives (413 once over); the whole
body must arrive within the app's ``state.body_timeout`` (``[server]
client_timeout``; 408). Those answers close the connection. A client that
disconnects while sending ends its request with one INFO line, no traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

log = logging.getLogger(__name__)
URLENCODED = "application/x-www-form-urlencoded"
FORM_LIMIT = 16 * 1024  # the forms hold an address, a token and a few short fields
DEFAULT_TIMEOUT_S = 10.0  # when the app has no ``state.body_timeout``


def _refuse(status: int, text: str) -> HTTPException:
    # Connection: close, as the rest of a refused body is not read.
    return HTTPException(status, text + "\n", headers={"Connection": "close",
                                                       "Cache-Control": "no-store"})


def _route(request: Request) -> str:
    """The route's pattern (``/webhooks/courtlistener/{secret}``), never the secret."""
    return str(getattr(request.scope.get("route"), "path", "") or "?")


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:  # h11 refuses these before the app sees them
        raise _refuse(400, "Content-Length is not a number.") from None


def _check_type(request: Request, media_types: Sequence[str], declared: int | None) -> None:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if not ctype and not chunked and not declared:
        return  # no body at all: an empty form
    if ctype not in media_types:
        raise _refuse(415, f"Send the form as {media_types[0]} "
                           f"(not {ctype or 'a body without Content-Type'}).")


async def read_body(request: Request, *, limit: int,
                    media_types: Sequence[str] | None = None) -> bytes:
    """The request body, at most ``limit`` bytes, of one of ``media_types`` (any type
    when None). Raises :class:`~starlette.exceptions.HTTPException` (413, 415, 408,
    or 400 for a client gone away), which Starlette answers as plain text."""
    declared = _declared_length(request)
    if media_types is not None:
        _check_type(request, media_types, declared)
    if declared is not None and declared > limit:
        raise _refuse(413, f"Request body too large ({declared} bytes; at most {limit}).")
    timeout = float(getattr(request.app.state, "body_timeout", DEFAULT_TIMEOUT_S))
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _refuse(413, f"Request body too large (at most {limit} bytes).")
    except TimeoutError:
        raise _refuse(408, f"The request body did not arrive within {timeout:g} s.") from None
    except ClientDisconnect:
        # Nobody is left to answer; the response below goes nowhere.
        log.info("%s %s: the client disconnected while sending the request body "
                 "(%d bytes received)", request.method, _route(request), len(body))
        raise _refuse(400, "The request body was not received.") from None
    return bytes(body)


async def read_form(request: Request, *, limit: int = FORM_LIMIT) -> FormData:
    """The urlencoded form of the request (a body within limits: :func:`read_body`),
    as Starlette's ``request.form()`` would give it; 400 for a body not UTF-8."""
    body = await read_body(request, limit=limit, media_types=(URLENCODED,))
    try:
        text = body.decode("utf-8")
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse(400, "The form is not valid UTF-8.") from None
    return FormData(fields)
