"""Render an outbox row into a title and a plain-text body.

Call :func:`render`. Plain text for now; the channel templates (Jinja2) replace
this later with the same inputs: the notification type, its payload (written
when it was planned) and the current event snapshot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def _event_lines(ev: dict[str, Any]) -> list[str]:
    lines = [f"{ev.get('title', '')}", f"When: {ev.get('when', '')}"]
    if ev.get("location"):
        lines.append(f"Where: {ev['location']}")
    court = f" ({ev['court']})" if ev.get("court") else ""
    lines.append(f"Case: {ev.get('case_title', ev.get('case_id', ''))}{court}")
    if ev.get("judge"):
        lines.append(f"Judge: {ev['judge']}")
    if ev.get("url"):
        lines.append(ev["url"])
    return lines


def _late_note(due: datetime, tz: str) -> str:
    local = due.astimezone(ZoneInfo(tz))
    return (f"(Sent late: this was due {local:%a %d %b %H:%M %Z}; the notifier was not "
            "running or could not deliver.)")


def render(ntype: str, payload: dict[str, Any], *, due: datetime, late: bool = False,
           urgent: bool = False, event: dict[str, Any] | None = None) -> tuple[str, str]:
    """(title, body). ``event`` is the current event snapshot, when there is one."""
    ev = event or payload.get("event") or {}
    tz = ev.get("timezone") or "UTC"
    kind = str(ev.get("kind", "event")).replace("_", " ").capitalize()
    if ntype == "reminder":
        title = f"Reminder: {kind} in {payload.get('offset_text', '')} — {ev.get('title', '')}"
        lines = _event_lines(ev)
    elif ntype == "change":
        changes = payload.get("changes") or []
        first = changes[0]["summary"] if changes else f"{kind} changed"
        title = ("URGENT: " if urgent else "") + f"{first} — {ev.get('title', '')}"
        lines = [c["summary"] for c in changes] + [""] + _event_lines(ev)
        if payload.get("corrections"):
            lines += ["", *payload["corrections"]]
    else:
        title = str(payload.get("title", f"notifier {ntype}"))
        lines = [str(payload.get("text", ""))]
    if late:
        lines += ["", _late_note(due, tz)]
    return title, "\n".join(lines).strip()
