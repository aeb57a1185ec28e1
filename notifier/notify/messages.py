"""Render an outbox row into a title and a body, from sandboxed Jinja2 templates.

Call :func:`context` to turn a row's payload (written when it was planned) plus
what the dispatcher looked up right before sending (the event as it is now, the
case's next date, the digest agenda) into template variables, then
:meth:`Renderer.render` for one channel and body format.

Templates are ``{type}.title.j2`` and ``{type}.{txt,md,html}.j2`` for the types
``reminder``, ``change``, ``digest``, ``operator`` and ``generic`` (anything
else, e.g. ``test``). The shipped ones live in ``notifier/notify/templates``; a
channel's ``templates`` folder overrides any of them. A missing format falls back
to that folder's ``.txt.j2``, then to the shipped template. A channel template
that fails to render is logged and the shipped one is used, so a typo never stops
a hearing alert. Rendering is sandboxed (``SandboxedEnvironment``): templates
cannot reach Python internals; HTML templates are autoescaped, and in Markdown
templates every printed value is escaped (:func:`md_escape`: no Slack mentions or
hidden links from event text, @everyone/@here made inert). An event's ``url`` is
kept only if it is http(s).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import escape

log = logging.getLogger(__name__)
DEFAULTS = Path(__file__).parent / "templates"
TYPES = ("reminder", "change", "digest", "operator")
EXT = {"text": "txt", "markdown": "md", "html": "html"}


def until_text(start: datetime | None, now: datetime, *, date_only: bool = False,
               tz: ZoneInfo | None = None) -> str:
    """How far away, e.g. ``in 1 day``, ``in 3 hours``, ``tomorrow`` (date-only)."""
    if start is None:
        return ""
    if date_only and tz is not None:
        days = (start.astimezone(tz).date() - now.astimezone(tz).date()).days
        return {0: "today", 1: "tomorrow"}.get(days, f"in {days} days" if days > 0 else "")
    secs = (start - now).total_seconds()
    if secs <= 0:
        return "now"
    if secs >= 23.5 * 3600:
        days = max(1, round(secs / 86400))
        return f"in {days} day{'s' if days != 1 else ''}"
    if secs >= 3600:
        hours = round(secs / 3600)
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    mins = max(1, round(secs / 60))
    return f"in {mins} minute{'s' if mins != 1 else ''}"


def _late_note(due: datetime, tz: str) -> str:
    local = due.astimezone(ZoneInfo(tz))
    return (f"Sent late: this was due {local:%a %d %b %H:%M %Z}; the notifier was not "
            "running or could not deliver.")


def context(ntype: str, payload: Mapping[str, Any], *, due: datetime, now: datetime,
            late: bool = False, urgent: bool = False, extra: Mapping[str, Any] | None = None,
            channel: str = "", base_url: str = "") -> dict[str, Any]:
    """Template variables for one notification (see the shipped templates for use)."""
    extra = dict(extra or {})
    ev = dict(extra.pop("event", None) or payload.get("event") or {})
    if "url" in ev:  # a link in any format, so only http(s): never javascript: or data:
        ev["url"] = http_url(ev["url"])
    tz = ev.get("timezone") or extra.get("timezone") or "UTC"
    kind = str(ev.get("kind") or "event").replace("_", " ").capitalize()
    changes = list(payload.get("changes") or [])
    case_id = ev.get("case_id")
    return {
        "type": ntype, "urgent": urgent, "late": late,
        "late_note": _late_note(due, tz) if late else "",
        "event": ev, "kind": kind, "offset_text": payload.get("offset_text", ""),
        "until": extra.pop("until", ""), "changes": changes,
        "headline": changes[0]["summary"] if changes else f"{kind} changed",
        "corrections": list(payload.get("corrections") or []),
        # A payload may carry it (a "Now tracking N events" alert names no one event).
        "case_next": extra.pop("case_next", None) or payload.get("case_next"),
        "title": str(payload.get("title") or ""), "text": str(payload.get("text") or ""),
        "channel": channel, "base_url": base_url,
        "case_url": f"{base_url}/calendars/{case_id}.ics" if base_url and case_id else "",
        **extra,
    }


# CommonMark escapes for what would become markup: Slack turns "<...>" into mentions
# (<!channel>, <@U123>) and hidden links (<https://x|click>), any Markdown turns
# "[label](url)" into a link. Apprise's Slack dialect renders "\<" as "&lt;".
_MD_SPECIAL = re.compile(r"([\\<>\[\]])")
# Plain-text mass mentions (Discord, Mattermost, Rocket.Chat): a zero-width space
# after "@" shows the same text but pings no one.
_MASS_MENTION = re.compile(r"@(everyone|here|channel|all)\b", re.IGNORECASE)


def neutralise_mentions(text: str) -> str:
    """``text`` with @everyone/@here/@channel/@all made inert (the text looks the same)."""
    return _MASS_MENTION.sub("@\u200b\\1", text)


def md_escape(text: str) -> str:
    """One piece of event or case text, safe inside a Markdown message body."""
    return neutralise_mentions(_MD_SPECIAL.sub(r"\\\1", text))


def _md_value(value: Any) -> Any:
    """Jinja ``finalize`` for Markdown templates: every printed string is escaped."""
    return md_escape(value) if isinstance(value, str) else value


def http_url(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (no javascript:, data:, ...)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if re.match(r"^https?://[^\s/]", text, re.IGNORECASE) is None or \
            any(ord(ch) < 32 or ch.isspace() for ch in text):
        return None
    return text


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _env(folder: Path, *, markdown: bool = False) -> SandboxedEnvironment:
    """Templates of ``folder``: ``.html.j2`` autoescaped; with ``markdown``, every
    value a template prints is Markdown-escaped (used for ``.md.j2``)."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(folder)), undefined=ChainableUndefined,
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        finalize=_md_value if markdown else None,
        trim_blocks=True, lstrip_blocks=True, auto_reload=False)


class _Envs:
    """One template folder: its plain/HTML environment and its Markdown one."""

    def __init__(self, folder: Path) -> None:
        self.plain = _env(folder)
        self.markdown = _env(folder, markdown=True)


class Renderer:
    """Renders with per-channel template folders over the shipped defaults."""

    def __init__(self, overrides: Mapping[str, Path] | None = None) -> None:
        self.default = _Envs(DEFAULTS)
        self.overrides = {name: _Envs(p) for name, p in (overrides or {}).items()}

    @staticmethod
    def _kind(ntype: str) -> str:
        return ntype if ntype in TYPES else "generic"

    def _one(self, env: SandboxedEnvironment, name: str, ctx: Mapping[str, Any]) -> str:
        return env.get_template(name).render(ctx)

    def _from(self, envs: _Envs, kind: str, fmt: str,
              ctx: Mapping[str, Any], *, fallback_txt: bool) -> tuple[str | None, str | None]:
        title = body = None
        env = envs.markdown if fmt == "markdown" else envs.plain
        with contextlib.suppress(TemplateNotFound):
            title = self._one(envs.plain, f"{kind}.title.j2", ctx)
        try:
            body = self._one(env, f"{kind}.{EXT[fmt]}.j2", ctx)
        except TemplateNotFound:
            if fallback_txt and fmt != "text":
                try:
                    text = self._one(envs.plain, f"{kind}.txt.j2", ctx)
                    body = str(escape(text)).replace("\n", "<br>\n") if fmt == "html" else \
                        md_escape(text)
                except TemplateNotFound:
                    pass
        return title, body

    def render(self, channel: str, ntype: str, ctx: Mapping[str, Any],
               fmt: str = "text") -> tuple[str, str]:
        """(title, body) in ``fmt`` (text, markdown or html) for ``channel``."""
        kind = self._kind(ntype)
        title = body = None
        env = self.overrides.get(channel)
        if env is not None:
            try:
                title, body = self._from(env, kind, fmt, ctx, fallback_txt=True)
            except TemplateError as e:
                log.warning("channel %s: template for %s failed (%s); using the shipped one",
                            channel, kind, e)
                title = body = None
        d_title, d_body = (None, None)
        if title is None or body is None:
            d_title, d_body = self._from(self.default, kind, fmt, ctx, fallback_txt=False)
        title = " ".join(_tidy(title if title is not None else d_title or "").split())
        if fmt == "markdown":  # services that render Markdown may ping from the title too
            title = neutralise_mentions(title)
        return title, _tidy(body if body is not None else d_body or "")


def render(ntype: str, payload: dict[str, Any], *, due: datetime, late: bool = False,
           urgent: bool = False, event: dict[str, Any] | None = None,
           now: datetime | None = None) -> tuple[str, str]:
    """Plain-text (title, body) with the shipped templates (a convenience for callers)."""
    ctx = context(ntype, payload, due=due, now=now or due, late=late, urgent=urgent,
                  extra={"event": event} if event else None)
    return Renderer().render("", ntype, ctx, "text")

