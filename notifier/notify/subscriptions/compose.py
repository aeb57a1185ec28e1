"""Subscriber emails as MIME text, written as Apprise's email plugin writes them.

Create a :class:`Composer` from the ``NotifyEmail`` plugin that read the
``[subscriptions] email`` URL and call :meth:`Composer.compose` for each message: it
returns the envelope recipients and the message text. The result is the one
``NotifyEmail.prepare_emails`` gives (same MIME parts and headers: ``X-Application``,
the URL's ``+Header=value`` headers, Subject, From, To, Message-ID, Date, Cc,
Reply-To; Bcc in the envelope only), written faster: the stdlib's quoted-printable
header encoding (the one Apprise registers for UTF-8) is quadratic in the header's
length, and every subject holds a dash "—", so a change alert to 10,000 followers
encoded the same subject 10,000 times. Encoded non-ASCII header values are cached.
URLs asking for PGP or inline attachments are composed by Apprise itself.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from datetime import datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid
from functools import lru_cache
from typing import Any

from apprise import NotifyFormat
from apprise.attachment.memory import AttachMemory
from apprise.conversion.format import convert_between
from apprise.plugins.email import NotifyEmail
from apprise.plugins.email.base import PGP_MODE_DEFAULT

Attachments = Sequence[tuple[str, bytes, str]]  # (file name, data, MIME type)


@lru_cache(maxsize=256)
def _encoded(name: str, value: str) -> str:
    """A non-ASCII header value as RFC 2047 words (what Apprise's Header gives),
    unfolded, as ``Message.as_string()`` writes headers (Apprise's too)."""
    return Header(value, "utf-8", header_name=name).encode(maxlinelen=0)


def _header(name: str, value: str) -> str:
    return value if value.isascii() else _encoded(name, value)


@lru_cache(maxsize=32)
def _attachment(name: str, data: bytes, mime: str) -> MIMEApplication:
    """One attachment's MIME part (base64 written once), shared by the messages
    carrying it; parts are never changed once built."""
    part = MIMEApplication(data)
    part.set_type(mime)
    part.add_header("Content-Disposition", f'attachment; filename="{name}"')
    return part


def _boundary(text: str) -> str:
    while True:  # as the stdlib's generator makes them
        boundary = f"{'=' * 15}{secrets.randbelow(sys.maxsize):019d}=="
        if boundary not in text:
            return boundary


class _Policy(Compat32):
    """``compat32`` writing a one-line ASCII header as it is: what its ``Header``
    round trip gives for those (unfolded), without the round trip."""

    def fold(self, name: str, value: Any) -> str:
        if isinstance(value, str) and value.isascii() and "\n" not in value \
                and "\r" not in value and not self.max_line_length:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)


_POLICY = _Policy()


class Composer:
    def __init__(self, plugin: NotifyEmail) -> None:
        self.plugin = p = plugin
        self.format = p.resolve_format(NotifyFormat.TEXT)
        self.by_apprise = p.pgp_mode != PGP_MODE_DEFAULT or bool(p.inline)
        self.sender: str = p.from_addr[1]
        self._from = formataddr(tuple(p.from_addr), charset="utf-8")
        self._domain = p.smtp_host or self.sender.split("@")[1]

    def compose(self, to: str, title: str, body: str, headers: dict[str, str],
                attachments: Attachments = ()) -> tuple[list[str], str]:
        """(envelope recipients, message text with ``\\n`` line ends) for ``to``."""
        p = self.plugin
        if self.format != NotifyFormat.TEXT:  # e.g. ``?format=html`` in the URL
            body = convert_between(NotifyFormat.TEXT, self.format, body)
        headers = {"X-Application": p.app_id, **p.headers, **headers}
        subject = " ".join(title.split())  # one line, as Apprise makes it
        if self.by_apprise:
            return self._apprise(to, subject, body, headers, attachments)
        base: MIMEBase
        if self.format == NotifyFormat.HTML:
            base = MIMEMultipart("alternative")
            base.attach(MIMEText(convert_between(NotifyFormat.HTML, NotifyFormat.TEXT, body),
                                 "plain", "utf-8"))
            base.attach(MIMEText(body, "html", "utf-8"))
        else:
            base = MIMEText(body, "plain", "utf-8")
        if attachments:
            mixed = MIMEMultipart("mixed")
            mixed.attach(base)
            for name, data, mime in attachments:
                mixed.attach(_attachment(name, data, mime))
            # The generator would compile a regular expression per message to check
            # its random boundary against the text; the text is only ``body``
            # (attachments are base64, header values single lines).
            mixed.set_boundary(_boundary(body))
            base = mixed
        for k, v in headers.items():
            base[k] = _header(k, v)
        base["Subject"] = _header("Subject", subject)
        base["From"] = self._from
        base["To"] = formataddr((None, to), charset="utf-8")
        base["Message-ID"] = make_msgid(domain=self._domain)
        base["Date"] = format_datetime(datetime.now(tz=p.tzinfo).astimezone(p.tzinfo))
        cc = self._others(p.cc - p.bcc - {to})
        if cc:
            base["Cc"] = ",".join(cc)
        reply_to = self._others(p.reply_to - {to})
        if reply_to:
            base["Reply-To"] = ",".join(reply_to)
        return [to, *cc, *self._others(p.bcc - {to})], base.as_string(policy=_POLICY)

    def _others(self, addresses: set[str]) -> list[str]:
        names = self.plugin.names or {}
        return [formataddr((names.get(a, False), a), charset="utf-8") for a in addresses]

    def _apprise(self, to: str, subject: str, body: str, headers: dict[str, str],
                 attachments: Attachments) -> tuple[list[str], str]:
        p = self.plugin
        attach = [AttachMemory(content=data, name=name, mimetype=mime)
                  for name, data, mime in attachments]
        prepared: Any = next(iter(NotifyEmail.prepare_emails(
            subject=subject, body=body, notify_format=self.format, from_addr=p.from_addr,
            to=[(False, to)], cc=p.cc, bcc=p.bcc, reply_to=p.reply_to,
            smtp_host=p.smtp_host, attach=attach or None, headers=headers, names=p.names,
            pgp=p.pgp, pgp_mode=p.pgp_mode, inline=p.inline, tzinfo=p.tzinfo)))
        return list(prepared.to_addrs), prepared.body
