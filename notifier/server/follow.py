"""Following a case by email: the sign-up form, confirm, manage and unsubscribe pages.

:class:`Follow` is built by :func:`notifier.server.web.create_app` when
``[subscriptions] enabled``; :meth:`Follow.form` gives the case pages and the index their form (and
the CSRF cookie), :meth:`Follow.routes` the routes under ``/follow``. The form is
protected by a double-submit token: a random cookie (SameSite=Strict) and, in the
form, that value signed with the site secret. Sign-ups are limited per client IP
(429) and per address (answered like any other sign-up, but nothing is sent), in
this process's memory. Every answer to a sign-up is the same whether the address
is known or not, and so is its time: the sign-up is stored after the answer is sent
(a Starlette background task). Links carry signed ids
(:mod:`notifier.notify.subscriptions.links`) in ``?token=``, which the access log
redacts; never the address; each route takes only links of its own purpose.

With ``[feed] private`` a sign-up needs a feed token that opens its case (the form
of a private page carries the page's token); without one, or for a case that does
not exist, the answer is the 404 of an unknown case. The token's id is kept with
the subscription (:mod:`notifier.notify.subscriptions.access`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..config import Settings
from ..feeds.tokens import TokenScope, verify_token
from ..notify.subscriptions import planning, registry
from ..notify.subscriptions.links import FORM, LinkError, Links
from ..store import Store
from ..store.models import Case
from ..timeutil import spell_duration, utcnow
from . import follow_calendar
from .forms import read_form

log = logging.getLogger(__name__)
COOKIE = "notifier_follow"
_FORM_MAX_AGE = 24 * 3600
_MAX_FIELD = 1000


class RateLimit:
    """At most ``limit`` hits per key within ``window`` seconds; remembers at most
    ``keys`` keys (the least recently used are forgotten first)."""

    def __init__(self, limit: int, window: float, keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.keys, self.clock = limit, window, keys, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count a hit; False when over the limit (the hit is not counted then)."""
        now = self.clock()
        with self._lock:
            q = self._hits.pop(key, None) or deque()
            while q and q[0] <= now - self.window:
                q.popleft()
            ok = len(q) < self.limit
            if ok:
                q.append(now)
            self._hits[key] = q
            while len(self._hits) > self.keys:
                self._hits.popitem(last=False)
            return ok


class Follow:
    def __init__(self, settings: Settings, store: Store, env: Environment) -> None:
        self.settings = settings
        self.cfg = settings.subscriptions
        self.store = store
        self.env = env
        self.base = settings.server.base_url
        self.private = settings.feed.private
        self.links = Links(self.cfg, self.base)
        window = self.cfg.rate_window.total_seconds()
        self.per_ip = RateLimit(self.cfg.per_ip, window)
        self.per_address = RateLimit(self.cfg.per_address, window)
        # Sign-ups answered but not stored yet (:meth:`_record` runs after the answer).
        self.unstored = 0
        self._unstored_lock = threading.Lock()
        self.leads = [(str(int(o.total_seconds())), f"{spell_duration(o)} before each date")
                      for o in self.cfg.offsets] + [("0", "changes only")]

    # -- the form on the case page -----------------------------------------------------
    def form(self, request: Request, case_id: str | None,
             cases: list[tuple[str, str]] | None = None) -> tuple[dict[str, Any], str]:
        """The template context of the form and the cookie value to (re)set: for one
        case (its page), or with a choice of ``cases`` (id, title) on the index."""
        nonce = request.cookies.get(COOKIE) or ""
        if not (16 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum()):
            nonce = secrets.token_urlsafe(24)
        # Private pages: the page's own feed token goes with the form (the sign-up is
        # authorized as the page was); the URL already holds it.
        token = request.query_params.get("token") if self.private else None
        return {"action": f"{self.base}/follow", "csrf": self.links.sign(FORM, nonce),
                "case_id": case_id, "cases": cases or [], "leads": self.leads,
                "token": token}, nonce

    def set_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(COOKIE, nonce, max_age=_FORM_MAX_AGE, httponly=True,
                            samesite="strict", secure=self.base.startswith("https://"))

    # -- pages -------------------------------------------------------------------------
    def page(self, heading: str, *lines: str, status: int = 200,
             button: dict[str, Any] | None = None, manage: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None,
             link: tuple[str, str] | None = None) -> Response:
        html = self.env.get_template("follow.html").render(
            heading=heading, lines=lines, button=button, manage=manage, link=link,
            home=f"{self.base}/")
        return HTMLResponse(html, status_code=status,
                            headers={"Cache-Control": "no-store",
                                     "Referrer-Policy": "no-referrer", **(headers or {})})

    def _wake(self, request: Request) -> None:
        wake = getattr(request.app.state, "wake_dispatch", None)
        if callable(wake):
            wake()

    def _lead(self, value: str) -> int | None:
        return int(value) if value in {v for v, _l in self.leads} else None

    def not_found(self) -> Response:
        """What a private site answers for a case the sign-up's token does not open,
        or that does not exist: the 404 page of the case pages, the same either way."""
        html = self.env.get_template("404.html").render(private=True, home=f"{self.base}/")
        return HTMLResponse(html, status_code=404, headers={"Cache-Control": "no-cache"})

    def _scope(self, token: str | None, case_id: str) -> TokenScope | None:
        scope = verify_token(self.store, token)
        return scope if scope is not None and scope.allows(case_id) else None

    def _case_exists(self, case_id: str) -> bool:
        with self.store.read() as s:
            return s.get(Case, case_id) is not None

    async def signup(self, request: Request) -> Response:
        form = await read_form(request)
        fields = {k: form.get(k) for k in ("email", "case", "lead", "csrf", "token")}
        values = {k: v if isinstance(v, str) else "" for k, v in fields.items()}
        try:
            nonce = self.links.load(FORM, values["csrf"], _FORM_MAX_AGE)
        except LinkError:
            nonce = None
        cookie = request.cookies.get(COOKIE)
        if not cookie or not isinstance(nonce, str) or not secrets.compare_digest(nonce, cookie):
            return self.page("Please try again",
                             "This form has expired or did not come from this site. Go back, "
                             "reload the case page and send it again.", status=403)
        case_id = values["case"]
        scope: TokenScope | None = None
        if self.private:
            # As the case page: a feed token that opens this case, else the 404 of an
            # unknown case (whether the case exists or not).
            scope = await run_in_threadpool(
                self._scope, values["token"] or request.query_params.get("token"), case_id)
            if scope is None:
                return self.not_found()
        if any(len(v) > _MAX_FIELD or registry.has_control(v) for v in values.values()):
            return self.page("Not accepted", "The form holds line breaks or other control "
                             "characters, or a field is too long. Nothing was saved.",
                             status=400)
        lead = self._lead(values["lead"])
        if lead is None:
            return self.page("Not accepted", "Choose one of the offered reminder times.",
                             status=400)
        try:
            address = registry.normalise(values["email"])
        except registry.AddressError as e:
            return self.page("Not accepted", f"Email address: {e}. Nothing was saved.",
                             status=400)
        host = request.client.host if request.client else "unknown"
        if not self.per_ip.hit(host):
            retry = str(int(self.cfg.rate_window.total_seconds()))
            return self.page("Too many sign-ups", "Too many sign-ups from your network in a "
                             "short time. Please try again later.", status=429,
                             headers={"Retry-After": retry})
        if not await run_in_threadpool(self._case_exists, case_id):
            if self.private:
                return self.not_found()
            return self.page("Not accepted", "There is no such case here.", status=400)
        response = self.page("Check your inbox",
                             "If this address can receive email, a message with a link to "
                             "confirm is on its way. Nothing else is sent until you open it.",
                             f"The link works for {spell_duration(self.cfg.confirm_ttl)}.")
        # Over the per-address limit: answered like any sign-up, nothing stored or sent.
        if self.per_address.hit(address):
            # After the answer is sent: what the address' state makes the store do
            # (a new row and a wake-up, or nothing) must not show in the answer's time.
            with self._unstored_lock:
                self.unstored += 1
            response.background = BackgroundTask(
                self._record, address, case_id, lead, scope.id if scope else None,
                getattr(request.app.state, "wake_dispatch", None))
        return response

    def _record(self, address: str, case_id: str, lead: int, token_id: int | None,
                wake: Callable[[], None] | None) -> None:
        """Store a sign-up (run after its answer went out) and wake the dispatcher
        when a confirmation email was queued."""
        queued = False
        try:
            queued = self._store(address, case_id, lead, token_id)
        except sa.exc.SQLAlchemyError as e:  # the person was told to check their inbox
            log.warning("a sign-up was not stored: %s", type(e).__name__)
        finally:
            with self._unstored_lock:
                self.unstored -= 1
        if queued and callable(wake):
            wake()

    def _store(self, address: str, case_id: str, lead: int, token_id: int | None) -> bool:
        for attempt in (1, 2):
            try:
                with self.store.write() as s:
                    if s.get(Case, case_id) is None:  # gone since the answer
                        return False
                    return registry.request(s, self.cfg, address, case_id, lead, utcnow(),
                                            token_id)
            except sa.exc.IntegrityError:
                # Two sign-ups of one new address at once (PostgreSQL): the other
                # inserted it first; the second try finds it.
                if attempt == 2:
                    raise
        return False

    def _bad_link(self, e: LinkError) -> Response:
        if e.expired:
            return self.page("Link expired", f"{str(e).capitalize()}. Nothing was changed.",
                             status=410)
        return self.page("Link not valid", f"{str(e).capitalize()}. Nothing was changed.",
                         status=400)

    async def confirm(self, request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params.get("token")
        else:
            token = str((await read_form(request)).get("token") or "")
        try:
            sub_id, nonce = self.links.confirm_data(token)
        except LinkError as e:
            return self._bad_link(e)
        if request.method == "GET":
            # A button rather than confirming on GET: mail scanners open links.
            return self.page("Confirm", "Confirm that you want to follow this case by email.",
                             button={"action": f"{self.base}/follow/confirm", "label": "Confirm",
                                     "fields": [("token", token)]})

        def use() -> tuple[str, str, str] | None:
            now = utcnow()
            with self.store.write() as s:
                row = registry.confirm(s, sub_id, nonce, now)
                if row is None:
                    return None
                planning.plan_reminders(s, self.settings, now, [row.case_id])
                sub = s.get(registry.Subscriber, row.subscriber_id)
                case = s.get(Case, row.case_id)
                assert sub is not None and sub.id is not None
                return (case.title if case else row.case_id,
                        self.links.manage_url(sub.id, sub.key), row.case_id)
        done = await run_in_threadpool(use)
        if done is None:
            return self.page("Link already used", "This link was used already or replaced "
                             "by a newer one. Nothing was changed.", status=410)
        self._wake(request)
        return self.page("You follow this case", f"You now follow \"{done[0]}\".",
                         link=(done[1], "Change or stop your emails at any time"))

    async def unsubscribe(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if request.method == "POST" and not token:
            token = str((await read_form(request)).get("token") or "")
        try:
            sid, key, case_id = self.links.unsubscribe_data(token)
        except LinkError as e:
            return self._bad_link(e)
        if request.method == "GET":
            return self.page("Stop emails", "Stop the emails about this case?",
                             button={"action": f"{self.base}/follow/unsubscribe",
                                     "label": "Stop", "fields": [("token", token)]})

        def stop() -> bool:
            with self.store.write() as s:
                if registry.subscriber(s, sid, key) is None:
                    return False
                registry.unsubscribe(s, sid, case_id, utcnow())
                return True
        # One-click (RFC 8058): the POST alone does it, with no cookie or form token.
        if not await run_in_threadpool(stop):
            return self._gone()
        return self.page("Stopped", "You will get no more emails about this case.")

    def _gone(self) -> Response:
        return self.page("Link not valid", "This link no longer opens anything (the "
                         "address was deleted).", status=410)

    async def manage(self, request: Request) -> Response:
        form = await read_form(request) if request.method == "POST" else None
        token = str(form.get("token") or "") if form is not None \
            else request.query_params.get("token")
        try:
            sid, key = self.links.manage_data(token)
        except LinkError as e:
            return self._bad_link(e)
        action = str(form.get("action") or "") if form is not None else ""
        case_id = str(form.get("case") or "") if form is not None else ""
        lead = self._lead(str(form.get("lead") or "")) if form is not None else None

        def run() -> dict[str, Any] | str | None:
            now = utcnow()
            with self.store.write() as s:
                sub = registry.subscriber(s, sid, key)
                if sub is None:
                    return None
                if action == "forget":
                    registry.forget(s, sid)
                    return "forgotten"
                if action == "pause":
                    registry.set_paused(s, sid, True, now)
                elif action == "resume":
                    registry.set_paused(s, sid, False, now)
                    planning.plan_reminders(s, self.settings, now)
                elif action == "unsubscribe":
                    registry.unsubscribe(s, sid, case_id, now)
                elif action in follow_calendar.ACTIONS:
                    follow_calendar.act(s, self.settings, sid, action, now)
                elif action == "lead" and lead is not None:
                    if registry.set_lead(s, sid, case_id, lead):
                        registry.withdraw_waiting(s, sid, case_id, now, "lead time changed")
                        planning.plan_reminders(s, self.settings, now, [case_id])
                elif action:
                    return "bad"
                return {"cases": registry.followed(s, sid), "paused": sub.paused,
                        "token": self.links.manage_token(sid, key), "leads": self.leads,
                        "action": f"{self.base}/follow/manage",
                        **follow_calendar.manage_context(s, self.settings, sub, now)}
        result = await run_in_threadpool(run)
        if result is None:
            return self._gone()
        if result == "forgotten":
            return self.page("Deleted", "Your address, what you followed and the emails "
                             "sent to you are deleted. Nothing more will be sent.")
        if result == "bad":
            return self.page("Not accepted", "Unknown action. Nothing was changed.",
                             status=400)
        assert isinstance(result, dict)
        return self.page("Your emails", manage=result)

    def routes(self) -> list[Route]:
        return [
            Route("/follow", self.signup, methods=["POST"]),
            Route("/follow/confirm", self.confirm, methods=["GET", "POST"]),
            Route("/follow/manage", self.manage, methods=["GET", "POST"]),
            Route("/follow/unsubscribe", self.unsubscribe, methods=["GET", "POST"]),
        ]
