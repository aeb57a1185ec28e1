"""The HTTP server: iCal feeds, the index and case pages, a health check.

Call :func:`create_app` with the settings and the store (and optionally a shared
:class:`~notifier.feeds.cache.FeedService`); run the result with uvicorn. Routes:
``GET/HEAD /calendars/all.ics`` and ``/calendars/{case_id}.ics`` (``?kind=hearing``
or ``?kind=hearing,trial``), ``GET /``, ``GET /cases/{case_id}``, ``GET /healthz``,
``GET /readyz`` (503 until the daemon's start-up checked the database and the feed
cache is warm, or while the database is unreachable, gone or damaged), ``GET /livez`` (200 while the
process answers; never touches the database). When ``[feed] private`` is on,
every route but ``/healthz``, ``/readyz`` and ``/livez`` needs ``?token=``; a missing, wrong or
revoked token gets the same 404 as an unknown case. The app reads the store only,
except the ``/follow`` pages of ``[subscriptions]`` (:mod:`.follow`, and each
subscriber's calendar ``/follow/calendar/<token>.ics``, :mod:`.follow_calendar`).

Start-up does not wait for the feed cache: the lifespan warms it in a thread, and a
request that arrives meanwhile waits for it up to :data:`CACHE_WAIT_S`, then gets
503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from .. import metrics
from ..config import Settings
from ..feeds.cache import FeedService
from ..feeds.rendered import FeedBusy, Rendered
from ..feeds.tokens import TokenScope, redact, verify_token
from ..notify.outbox import counts as outbox_counts
from ..notify.subscriptions import states as subscriber_states
from ..store import Store
from ..store.watch import FATAL
from ..timeutil import utcnow
from . import pages
from .follow import Follow
from .follow_calendar import FollowCalendar
from .health import HealthReport, health_report
from .webhooks import webhook_routes

log = logging.getLogger(__name__)
MEDIA_TYPE = "text/calendar; charset=utf-8"
_NOT_FOUND = "Not found\n"
CACHE_WAIT_S = 10.0  # a request's wait for a feed cache being built, then 503
# Larger bodies are written in pieces of this size: written whole, the part the
# socket does not take at once is copied into the transport's buffer (a second
# copy of a 80 MB all.ics per client being served).
STREAM_CHUNK = 1 << 20
_RETRY_AFTER_S = 10


class RedactTokens(logging.Filter):
    """Removes ``token=...`` from access-log lines (uvicorn logs the full path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_log_filter() -> None:
    """Attach :class:`RedactTokens` to uvicorn's access logger (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison, as RFC 9110 prescribes for If-None-Match.
    return any(t.strip().removeprefix("W/") == etag for t in header.split(","))


def _kinds(request: Request) -> frozenset[str] | None:
    """``?kind=a,b&kind=c`` as a set: split, trimmed, duplicates and order gone; None
    when no kind is asked for. The feed service then keeps only kinds events have,
    so nothing else from the query string (control characters included) reaches
    the feed or its cache key."""
    asked = {k.strip() for v in request.query_params.getlist("kind") for k in v.split(",")}
    asked.discard("")
    return frozenset(asked) or None


async def _pieces(body: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(body)
    for i in range(0, len(view), STREAM_CHUNK):
        yield view[i:i + STREAM_CHUNK]


def _page_headers(*, private: bool) -> dict[str, str]:
    """Every HTML page: revalidated, never sent on as a Referer (a page reached with a
    token has it in its URL), and kept from shared caches when ``private``."""
    return {"Cache-Control": ("private, " if private else "") + "no-cache",
            "Referrer-Policy": "no-referrer"}


def _webcal(url: str) -> str:
    return re.sub(r"^https?://", "webcal://", url)


def create_app(settings: Settings, store: Store, feeds: FeedService | None = None, *,
               health: Callable[[], HealthReport] | None = None,
               started: Callable[[], bool] | None = None) -> Starlette:
    """The ASGI app. ``feeds`` lets the daemon share one cache; one is made if omitted.

    ``health`` builds the ``/healthz`` report; the daemon passes one that knows its
    scheduler. Without it only the database is checked. ``started`` says whether the
    daemon's start-up (the database's integrity check) is done: ``/readyz`` is 503
    "starting" until then.
    """
    service = feeds or FeedService.from_settings(store, settings)
    private = settings.feed.private
    base = settings.server.base_url
    env = Environment(loader=PackageLoader("notifier.server", "templates"),
                      autoescape=select_autoescape(["html"]))
    install_log_filter()
    follow = Follow(settings, store, env) if settings.subscriptions.enabled else None

    def authorize(request: Request, case_id: str | None,
                  index: bool = False) -> TokenScope | bool | None:
        """True when public; the token's scope when valid for ``case_id`` (or for the
        index, which any valid token opens, showing only its case); else None."""
        if not private:
            return True
        scope = verify_token(store, request.query_params.get("token"))
        return scope if scope is not None and (index or scope.allows(case_id)) else None

    def links(path: str, token: str | None) -> dict[str, str]:
        url = base + path + (f"?token={quote(token)}" if token else "")
        return {"https": url, "webcal": _webcal(url)}

    def not_found(request: Request | None = None) -> Response:
        if request is not None and not request.url.path.endswith(".ics"):
            html = env.get_template("404.html").render(private=private, home=base + "/")
            return HTMLResponse(html, status_code=404, headers=_page_headers(private=False))
        return PlainTextResponse(_NOT_FOUND, status_code=404)

    def busy() -> Response:
        return PlainTextResponse("The calendar is being prepared; try again shortly.\n",
                                 status_code=503,
                                 headers={"Retry-After": str(_RETRY_AFTER_S),
                                          "Cache-Control": "no-store"})

    def feed_response(request: Request, rendered: Rendered, filename: str) -> Response:
        headers = {
            "ETag": rendered.etag,
            "Cache-Control": ("private" if private else "public") + ", no-cache",
            "Content-Disposition": f'inline; filename="{filename}"',
        }
        if rendered.last_modified is not None:
            headers["Last-Modified"] = format_datetime(rendered.last_modified.astimezone(UTC),
                                                       usegmt=True)
        if _etag_matches(request.headers.get("if-none-match"), rendered.etag):
            metrics.record_feed_request(304)
            return Response(status_code=304, headers=headers)
        metrics.record_feed_request(200)
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(rendered.body))
            return Response(b"", media_type=MEDIA_TYPE, headers=headers)
        if len(rendered.body) > STREAM_CHUNK:
            headers["Content-Length"] = str(len(rendered.body))
            return StreamingResponse(_pieces(rendered.body), media_type=MEDIA_TYPE,
                                     headers=headers)
        return Response(bytes(rendered.body), media_type=MEDIA_TYPE, headers=headers)

    async def calendar(request: Request) -> Response:
        case_id: str | None = request.path_params.get("case_id")
        if not await run_in_threadpool(authorize, request, case_id):
            return not_found()
        kinds = _kinds(request)
        try:
            rendered = await run_in_threadpool(
                lambda: service.get(case_id, kinds, wait=CACHE_WAIT_S))
        except FeedBusy:
            return busy()
        if rendered is None:
            metrics.record_feed_request(404)
            return not_found()
        return feed_response(request, rendered, f"{case_id or 'all'}.ics")

    async def page(request: Request) -> Response:
        case_id: str | None = request.path_params.get("case_id")
        scope = await run_in_threadpool(authorize, request, case_id, case_id is None)
        if not scope:
            return not_found(request)
        try:
            snap = await run_in_threadpool(lambda: service.snapshot(wait=CACHE_WAIT_S))
        except FeedBusy:
            return busy()
        if case_id is not None and case_id not in snap.cases:
            return not_found(request)
        token = request.query_params.get("token") if private else None
        only = case_id or (scope.case_id if isinstance(scope, TokenScope) else None)
        suffix = f"?token={quote(token)}" if token else ""

        def build() -> list[dict[str, Any]]:
            with store.read() as s:
                return pages.groups(snap, only=only, case_page=case_id is not None,
                                    now=utcnow(), session=s, links=lambda p: links(p, token),
                                    page_url=lambda c: f"{base}/cases/{quote(c)}{suffix}")
        groups = await run_in_threadpool(build)
        all_links = links("/calendars/all.ics", token) if only is None else None
        name = "case.html" if case_id else "index.html"
        form = None
        if follow is not None and groups:  # the index: a choice of the cases it shows
            form = follow.form(request, case_id, None if case_id else [
                (str(g["case"].id), str(g["case"].title)) for g in groups])
        html = env.get_template(name).render(groups=groups, all_links=all_links,
                                             base_url=base, private=private,
                                             home=f"{base}/{suffix}",
                                             follow=form[0] if form else None)
        # A token's page, or one with a form's per-visitor cookie: no shared cache.
        response = HTMLResponse(html, headers=_page_headers(
            private=token is not None or (follow is not None and form is not None)))
        if follow is not None and form is not None:
            follow.set_cookie(response, form[1])
        return response

    def report() -> HealthReport:
        return health() if health is not None else health_report(store, None, settings)

    async def healthz(_request: Request) -> Response:
        rep = await run_in_threadpool(report)
        if rep.status_code != 200:
            log.warning("health check failed: %s", rep.body)
        return JSONResponse(rep.body, status_code=rep.status_code,
                            headers={"Cache-Control": "no-store"})

    async def metrics_page(_request: Request) -> Response:
        def collect() -> bytes:
            subs = None
            try:
                with store.read() as s:
                    counts = outbox_counts(s)
                    if settings.subscriptions.enabled:
                        subs = subscriber_states.counts(s)
            except sa.exc.SQLAlchemyError:
                counts = None
            return metrics.render(counts, private=private, subscriber_counts=subs)
        return Response(await run_in_threadpool(collect), media_type=metrics.CONTENT_TYPE)

    def database_state() -> str:
        # One round trip, plus the file watch's verdict (gone, replaced, corrupt).
        if started is not None and not started():
            return "checking"  # the integrity check at start has not answered yet
        try:
            with store.read() as s:
                s.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return "unreachable"
        fatal = [p.kind for p in store.watch.problems() if p.kind in FATAL]
        return fatal[0] if fatal else "ok"

    async def readyz(_request: Request) -> Response:
        # Can this replica serve? The cache is warm and the database answers (a load
        # balancer takes it out of rotation otherwise; /livez keeps it running).
        warm = service.ready
        database = await run_in_threadpool(database_state)
        ready = warm and database == "ok"
        status = ("ready" if ready else "warming" if database == "ok"
                  else "starting" if database == "checking" else "unavailable")
        return JSONResponse({"status": status, "feed_cache": "warm" if warm else "warming",
                             "database": database},
                            status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})

    async def livez(_request: Request) -> Response:
        # The process answers: nothing else. Never the database, so that a database
        # outage does not make a liveness probe restart every replica at once.
        return JSONResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})

    def warm() -> None:
        try:
            service.warm()
        except sa.exc.SQLAlchemyError as e:
            log.warning("feed cache not warmed: %s", e)

    @asynccontextmanager
    async def lifespan(_app: Starlette):  # type: ignore[no-untyped-def]
        # In the background: rendering a large calendar takes longer than anyone
        # should wait for the port to open (requests meanwhile wait, bounded).
        threading.Thread(target=warm, name="feed-warm", daemon=True).start()
        yield

    app = Starlette(routes=[
        Route("/calendars/all.ics", calendar, methods=["GET", "HEAD"]),
        Route("/calendars/{case_id}.ics", calendar, methods=["GET", "HEAD"]),
        Route("/cases/{case_id}", page, methods=["GET", "HEAD"]),
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/livez", livez, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_page, methods=["GET"]),
        *webhook_routes(settings, store),
        *(follow.routes() if follow is not None else ()),
        *(FollowCalendar(settings, store, service, respond=feed_response, not_found=not_found,
                         busy=busy, wait=CACHE_WAIT_S).routes() if follow is not None else ()),
    ], lifespan=lifespan)
    # Starlette's redirect from "/x/" to "/x" is built from the client's Host header:
    # a token in the query would go to whatever host the client named. No route here
    # needs it.
    app.router.redirect_slashes = False
    app.state.feeds = service
    app.state.body_timeout = settings.server.client_timeout.total_seconds()  # .forms
    return app
