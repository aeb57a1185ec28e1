"""Subscriber emails over one kept SMTP connection.

Create an :class:`SmtpMailer` from the ``[subscriptions] email`` Apprise URL, call
:meth:`SmtpMailer.send` for each message and :meth:`SmtpMailer.close` when the lane
idles. Apprise still reads the URL (``NotifyEmail``: host, port, security mode, login,
sender, and its provider templates such as Gmail's); :mod:`.compose` writes each
message as Apprise's own send would. Only the transport is here: Apprise opens a
connection, and builds an SSL context (loading the CA store, tens of milliseconds)
even for plain SMTP, for every message; 10,000 followers took minutes that way.

One connection is kept and reused; the SSL context is built once, when first needed.
Outcomes, as :class:`~notifier.errors.DeliveryError`:

- a 5xx answer to RCPT or DATA fails that message only (``permanent``); the
  connection is reset (RSET) and kept for the next one;
- a 4xx answer, or a failure to connect, secure or log in, is transient;
- a kept connection found closed before the server took the message (the server
  timed it out, or dropped it after the previous message) is opened again and the
  message sent once more: nothing was accepted, so nothing can arrive twice;
- a connection lost while the server holds the message's data is transient (it is
  retried later; the server may have taken it: the dispatcher's at-least-once).

Error texts never hold the recipient's address (masked) nor the URL's secrets.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
import threading

import apprise
from apprise.plugins.email import NotifyEmail

from ...display import mask_email
from ...errors import DeliveryError
from ...logs import mask
from .bounces import Bounced
from .compose import Attachments, Composer

log = logging.getLogger(__name__)
TIMEOUT = 15.0  # seconds, for connecting and for every answer of the server
_NETWORK = (OSError, smtplib.SMTPException)
_ADDRESS = re.compile(  # the lookbehind: tried once per run of characters (linear time)
    r"(?<![^\s<>()\[\],;:\"'])[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")
_CRLF = re.compile(r"\r\n|\n|\r")  # SMTP wants CRLF line ends


class _Refused(Exception):
    """The server answered a command with an error code."""

    def __init__(self, stage: str, code: int, reply: bytes | str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        super().__init__(f"{stage} refused: {code} {text}".strip())
        self.stage, self.code = stage, code


class SmtpMailer:
    """Sends one message at a time to one recipient over a kept connection."""

    def __init__(self, url: str, *, timeout: float = TIMEOUT) -> None:
        args = NotifyEmail.parse_url(url)
        if not args:
            raise DeliveryError("[subscriptions] email: Apprise cannot read this URL",
                                permanent=True)
        try:
            # One plugin resolves the URL; it is never asked to send.
            self.plugin = NotifyEmail(asset=apprise.AppriseAsset(service_timeout=0), **args)
        except Exception as e:  # e.g. AppriseImproperlyConfigured
            raise DeliveryError(mask(f"[subscriptions] email: {e}"), permanent=True) from None
        p = self.plugin
        self.host: str = p.smtp_host
        self.port: int = int(p.port)
        self.mode: str = p.secure_mode
        self.timeout = timeout
        self.composer = Composer(p)
        self._lock = threading.Lock()  # one lane sends; a CLI test send may come meanwhile
        self._conn: smtplib.SMTP | None = None
        self._context: ssl.SSLContext | None = None
        self.connections = 0  # opened so far (for tests and logs)

    # -- sending -----------------------------------------------------------------------
    def send(self, to: str, title: str, body: str, headers: dict[str, str],
             attachments: Attachments = ()) -> None:
        """Send one message to ``to``; raises :class:`DeliveryError` on failure."""
        try:
            rcpts, text = self.composer.compose(to, title, body, headers, attachments)
        except Exception as e:  # PGP without a key, an unreadable attachment, ...
            raise DeliveryError(self._masked(f"subscribers email: {e}", to),
                                permanent=True) from None
        data = _CRLF.sub("\r\n", text).encode("utf-8")
        with self._lock:
            try:
                self._transfer(self.composer.sender, rcpts, data)
            except _Refused as e:
                self._reset()
                if e.stage == f"RCPT {rcpts[0]}" and 500 <= e.code < 600:
                    answer = str(e).split(" refused: ", 1)[1]
                    raise Bounced(self._masked(
                        f"subscribers email: recipient refused: {answer}", to), e.code) from None
                raise DeliveryError(self._masked(f"subscribers email: {e}", to),
                                    permanent=e.code >= 500 and e.stage != "MAIL") from None
            except UnicodeError:  # an address SMTP cannot carry (no SMTPUTF8 here)
                self._reset()
                raise DeliveryError(self._masked(
                    f"subscribers email: the server cannot take the address {to}", to),
                    permanent=True) from None
            except _NETWORK as e:
                self._drop()
                raise DeliveryError(self._masked(
                    f"subscribers email: {self.host}:{self.port}: {type(e).__name__}: {e}",
                    to)) from None
            except BaseException:  # the session's state is unknown: start afresh
                self._drop()
                raise
        log.info("Sent Email to %s", mask_email(to))

    def _transfer(self, sender: str, rcpts: list[str], data: bytes) -> None:
        reused = self._conn is not None
        conn = self._connection()
        try:
            self._envelope(conn, sender, rcpts)
        except (smtplib.SMTPServerDisconnected, ConnectionError, _Refused) as e:
            if not reused or (isinstance(e, _Refused) and (e.stage, e.code) != ("MAIL", 421)):
                raise
            # The server had closed the kept connection (or is closing it: 421) before
            # taking anything of this message: send it once more on a new connection.
            self._drop()
            conn = self._connection()
            self._envelope(conn, sender, rcpts)
        try:
            code, reply = conn.data(data)
        except smtplib.SMTPDataError as e:  # DATA itself refused (no 354)
            raise _Refused("DATA", e.smtp_code, e.smtp_error) from None
        if code != 250:
            raise _Refused("DATA", code, reply)

    @staticmethod
    def _envelope(conn: smtplib.SMTP, sender: str, rcpts: list[str]) -> None:
        esmtp = conn.does_esmtp
        options = ["SMTPUTF8"] if esmtp and conn.has_extn("smtputf8") and \
            not all(a.isascii() for a in (sender, *rcpts)) else []
        code, reply = conn.mail(sender, options)
        if code != 250:
            raise _Refused("MAIL", code, reply)
        for i, rcpt in enumerate(rcpts):
            code, reply = conn.rcpt(rcpt)
            if code not in (250, 251):  # rcpts[0] is the subscriber, then Cc and Bcc
                raise _Refused("RCPT " + (rcpt if i == 0 else "(Cc/Bcc)"), code, reply)

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        p = self.plugin
        if self.mode == "ssl":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=self._ssl())
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            conn.ehlo_or_helo_if_needed()
            if self.mode == "starttls":
                conn.starttls(context=self._ssl())
                conn.ehlo()
            if p.user and p.password:
                conn.login(p.user, p.password)
        except BaseException:
            _close(conn)
            raise
        self.connections += 1
        self._conn = conn
        return conn

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context()
            if not self.plugin.verify_certificate:  # ``?verify=no`` in the URL
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _reset(self) -> None:
        """After a refusal: RSET, so the connection serves the next message."""
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except _NETWORK:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _close(conn)

    def close(self) -> None:
        """Say QUIT and close the kept connection (when the lane idles, or at the end)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.quit()
                except _NETWORK:
                    _close(conn)

    @staticmethod
    def _masked(text: str, to: str) -> str:
        return mask_addresses(mask(text.replace(to, mask_email(to))))


def mask_addresses(text: str) -> str:
    """Every email address in ``text`` masked (``j***@e***.org``)."""
    return _ADDRESS.sub(lambda m: mask_email(m.group(0)), text)


def _close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()
