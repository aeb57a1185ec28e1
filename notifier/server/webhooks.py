"""``POST /webhooks/courtlistener/{secret}``: CourtListener docket alerts nudge a source.

:func:`webhook_routes` gives the route for :func:`notifier.server.web.create_app`
(none when no source has a ``webhook_secret``). The secret in the path picks the
source (compared in constant time; an unknown one is a plain 404) and is masked in
the access log. A delivery needs an ``Idempotency-Key`` header; a repeated key is
answered 200 and changes nothing (:func:`notifier.sources.docketwebhook.nudge`).
The body is read (at most :data:`MAX_BODY` bytes, within ``client_timeout``:
:func:`.forms.read_body`) and dropped.
"""

from __future__ import annotations

import hmac
import logging
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..config import Settings, SourceSettings
from ..sources.docketwebhook import nudge
from ..store import Store
from ..timeutil import utcnow
from .forms import read_body

log = logging.getLogger(__name__)
PATH = "/webhooks/courtlistener/"
MAX_BODY = 1_000_000
_SECRET_IN_PATH = re.compile(re.escape(PATH) + r"[^\s\"?]+")


class _MaskWebhookPath(logging.Filter):
    """The access log shows ``/webhooks/courtlistener/…``: the path holds the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_IN_PATH.sub(PATH + "…", a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _source_for(settings: Settings, secret: str) -> SourceSettings | None:
    found = None
    for src in settings.sources:
        want = src.webhook_secret.get_secret_value() if src.webhook_secret else None
        # Every configured secret is compared, so the time taken says nothing.
        if want and hmac.compare_digest(want.encode(), secret.encode()) and src.enabled:
            found = src
    return found


def webhook_routes(settings: Settings, store: Store) -> list[Route]:
    if not any(s.webhook_secret for s in settings.sources):
        return []
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _MaskWebhookPath) for f in access.filters):
        access.addFilter(_MaskWebhookPath())

    async def courtlistener(request: Request) -> Response:
        src = _source_for(settings, request.path_params["secret"])
        if src is None:
            return PlainTextResponse("Not found\n", status_code=404)
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if not key or len(key) > 200:
            return PlainTextResponse("Idempotency-Key header required\n", status_code=400)
        await read_body(request, limit=MAX_BODY)  # drained, never trusted or stored
        fresh = await run_in_threadpool(nudge, store, src, key, utcnow())
        if fresh:
            log.info("source %r: CourtListener webhook; reading the docket now", src.name)
        return JSONResponse({"status": "accepted" if fresh else "duplicate"})

    return [Route(PATH + "{secret}", courtlistener, methods=["POST"])]
