"""A subscriber's personal calendar: ``GET/HEAD /follow/calendar/<token>.ics``.

:class:`FollowCalendar` is built by :func:`notifier.server.web.create_app` when
``[subscriptions] enabled``, with the app's shared
:class:`~notifier.feeds.cache.FeedService`; :meth:`FollowCalendar.routes` gives its
route. The feed holds the events of the cases the subscriber actively follows,
served like the other feeds (ETag, Last-Modified, 304 on ``If-None-Match``). Each
answer of 200 or 304 is recorded with a short client label
(:mod:`notifier.notify.subscriptions.calendar`); an unknown or replaced token gets
404. The token is in the path, which the access log redacts
(:func:`notifier.feeds.tokens.redact`); the address is never in the URL.

The manage page (:mod:`.follow`) calls :func:`manage_context` and :func:`act`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import Settings
from ..feeds.cache import FeedBusy, FeedService, Rendered
from ..notify.subscriptions import calendar
from ..store import Store
from ..store.subscribers import Subscriber
from ..timeutil import utcnow

log = logging.getLogger(__name__)
ACTIONS = ("calendar_new",)
FeedResponse = Callable[[Request, Rendered, str], Response]


def _secret(settings: Settings) -> str:
    secret = settings.subscriptions.secret
    assert secret is not None, "[subscriptions] secret is required when enabled"
    return secret.get_secret_value()


def manage_context(s: Session, settings: Settings, sub: Subscriber,
                   now: datetime) -> dict[str, Any]:
    """The manage page's calendar part: link and last refresh (made on first visit)."""
    view = calendar.manage_view(s, _secret(settings), settings.server.base_url, sub, now)
    return {"calendar": view}


def act(s: Session, settings: Settings, subscriber_id: int, action: str,
        now: datetime) -> None:
    """A manage-page action on the calendar link: ``calendar_new`` replaces it."""
    if action == "calendar_new":
        calendar.renew(s, _secret(settings), subscriber_id, now)


class FollowCalendar:
    def __init__(self, settings: Settings, store: Store, feeds: FeedService, *,
                 respond: FeedResponse, not_found: Callable[[], Response],
                 busy: Callable[[], Response], wait: float) -> None:
        """``respond``, ``not_found`` and ``busy`` answer as the other feeds do
        (:func:`notifier.server.web.create_app` passes its own)."""
        self.settings, self.store, self.feeds = settings, store, feeds
        self.respond, self.not_found, self.busy, self.wait = respond, not_found, busy, wait

    async def serve(self, request: Request) -> Response:
        token = str(request.path_params.get("token") or "")
        agent = request.headers.get("user-agent")

        def work() -> Response:  # one trip to the thread pool for the whole answer
            with self.store.read() as s:
                sid = calendar.lookup(s, token)
                followed = None if sid is None else calendar.followed_cases(s, sid)
            if followed is None:
                return self.not_found()
            try:
                rendered = self.feeds.followed(followed, wait=self.wait)
            except FeedBusy:
                return self.busy()
            response = self.respond(request, rendered, "following.ics")
            response.headers["Cache-Control"] = "private, no-cache"
            response.headers["Referrer-Policy"] = "no-referrer"
            self._record(token, response.status_code, agent)
            return response
        return await run_in_threadpool(work)

    def _record(self, token: str, status: int, agent: str | None) -> None:
        try:
            with self.store.write() as s:
                # Looked up again: a link replaced meanwhile must not count as used.
                sid = calendar.lookup(s, token)
                if sid is not None:
                    calendar.record_fetch(s, sid, status, agent, utcnow())
        except sa.exc.SQLAlchemyError as e:  # the calendar is served all the same
            log.warning("calendar fetch not recorded: %s", type(e).__name__)

    def routes(self) -> list[Route]:
        return [Route("/follow/calendar/{token}.ics", self.serve, methods=["GET", "HEAD"])]
