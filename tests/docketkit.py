"""A fake CourtListener REST API v4 on 127.0.0.1, and a facts-by-text extractor for tests.

:class:`FakeCourtListener` serves ``dockets/{id}/`` and ``docket-entries/`` from
the recorded responses in ``tests/dockets/`` (filled out to the full v4 entry shape),
with cursor pagination (``next`` links carrying an opaque ``cursor``), the
``date_modified__gte`` filter and ``order_by=date_modified``, token auth (401 for any
other token), and scripted failures (429 with ``Retry-After``, 5xx). Tests add or
edit entries while it runs; an edit moves the entry's ``date_modified``.
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from notifier.dockets.extract import Fact

HERE = Path(__file__).resolve().parent / "dockets"
TOKEN = "cl-test-token-5b1f0e"
DOCKET_ID = 68571705


def full_entry(raw: dict[str, Any], host: str) -> dict[str, Any]:
    """A recorded entry in the complete v4 shape (as /api/rest/v4/docket-entries/ sends)."""
    api = f"http://{host}/api/rest/v4"
    n = raw.get("entry_number")
    return {
        "resource_uri": f"{api}/docket-entries/{raw['id']}/",
        "id": raw["id"],
        "docket": f"{api}/dockets/{DOCKET_ID}/",
        "tags": [],
        "recap_documents": [{
            "resource_uri": f"{api}/recap-documents/{raw['id'] + 7}/", "id": raw["id"] + 7,
            "entry_number": n, "document_number": str(n) if n is not None else "",
            "attachment_number": None, "pacer_doc_id": f"12701{raw['id'] % 10000:07d}",
            "is_available": False, "page_count": None, "filepath_local": None,
            "description": raw.get("short", ""), "document_type": 1,
            "date_created": raw["date_modified"], "date_modified": raw["date_modified"],
        }],
        "date_created": raw["date_modified"],
        "date_modified": raw["date_modified"],
        "date_filed": raw["date_filed"],
        "time_filed": None,
        "entry_number": n,
        "recap_sequence_number": f"{raw['date_filed']}.{(n or 0):03d}",
        "pacer_sequence_number": None,
        "description": raw["description"],
    }


class FakeCourtListener:
    """The docket and docket-entries endpoints of CourtListener's API v4 (see module doc)."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.docket = json.loads((HERE / "cl_docket.json").read_text())
        self.entries: list[dict[str, Any]] = json.loads((HERE / "cl_entries.json").read_text())
        self.failures: list[tuple[int, dict[str, str]]] = []  # served before anything else
        self.requests: list[tuple[str, str | None]] = []  # (path?query, Authorization)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with fake.lock:
                    fake.requests.append((self.path, self.headers.get("Authorization")))
                    failure = fake.failures.pop(0) if fake.failures else None
                if failure is not None:
                    self._send(failure[0], {"detail": "scripted failure"}, failure[1])
                    return
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    self._send(401, {"detail": "Invalid token."})
                    return
                code, body = fake.answer(self.path)
                self._send(code, body)

            def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.api = f"http://{self.host}/api/rest/v4/"
        self.link_host = self.host  # the host its `next` links name
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str) -> tuple[int, Any]:
        parts = urlsplit(path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == f"/api/rest/v4/dockets/{DOCKET_ID}/":
            return 200, self.docket
        if parts.path != "/api/rest/v4/docket-entries/":
            return 404, {"detail": "Not found."}
        if q.get("docket") != str(DOCKET_ID):
            return 200, {"next": None, "previous": None, "results": []}
        with self.lock:
            rows = [full_entry(e, self.host) for e in self.entries]
        since = q.get("date_modified__gte")
        if since:
            rows = [r for r in rows if _instant(r["date_modified"]) >= _instant(since)]
        if q.get("order_by") == "date_modified":
            rows.sort(key=lambda r: (_instant(r["date_modified"]), r["id"]))
        start = int(base64.b64decode(q["cursor"]).decode().removeprefix("o=")) \
            if "cursor" in q else 0
        page = rows[start:start + self.page_size]
        nxt = None
        if start + self.page_size < len(rows):
            cursor = base64.b64encode(f"o={start + self.page_size}".encode()).decode()
            rest = {k: v for k, v in q.items() if k != "cursor"}
            query = "&".join(f"{k}={v}" for k, v in rest.items())
            nxt = f"http://{self.link_host}{parts.path}?{query}&cursor={cursor}"
        return 200, {"next": nxt, "previous": None, "results": page}

    def add(self, entry_id: int, number: int, filed: str, text: str, modified: str) -> None:
        with self.lock:
            self.entries.append({"id": entry_id, "entry_number": number, "date_filed": filed,
                                 "description": text, "date_modified": modified})

    def edit(self, entry_id: int, text: str) -> None:
        """The clerk corrects an entry: new text, a later date_modified."""
        with self.lock:
            e = next(e for e in self.entries if e["id"] == entry_id)
            newest = max(_instant(x["date_modified"]) for x in self.entries)
            e["description"] = text
            e["date_modified"] = (newest + timedelta(minutes=5)).isoformat()

    def entry_requests(self) -> list[str]:
        return [p for p, _a in self.requests if p.startswith("/api/rest/v4/docket-entries/")]

    def __enter__(self) -> FakeCourtListener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# What the extractor says about the texts the tests use: facts constructed directly,
# so the applying logic is tested on its own (the rules have their own tests).
FACTS: dict[str, list[Fact]] = {
    "Status Conference set for 5/4/2027 10:00 AM before Judge Jane Roe.": [
        Fact("set", "conference", "2027-05-04", "10:00", None,
             "Status Conference set for 5/4/2027 10:00 AM")],
    "Sentencing set for 9/1/2027 at 11:00 AM.": [
        Fact("set", "sentencing", "2027-09-01", "11:00", None,
             "Sentencing set for 9/1/2027 at 11:00 AM")],
    "Sentencing reset to 10/20/2027 at 2:30 PM.": [
        Fact("reset", "sentencing", "2027-10-20", "14:30", None,
             "Sentencing reset to 10/20/2027 at 2:30 PM")],
    "Jury Trial set for 3/1/2027.": [
        Fact("set", "trial", "2027-03-01", None, None, "Jury Trial set for 3/1/2027")],
    "Jury Trial continued from 3/1/2027 to 4/12/2027.": [
        Fact("reset", "trial", "2027-04-12", None, "2027-03-01",
             "Jury Trial continued from 3/1/2027 to 4/12/2027")],
    "The hearing on 5/4/2027 is VACATED.": [
        Fact("vacated", "hearing", "2027-05-04", None, None,
             "The hearing on 5/4/2027 is VACATED")],
    "Minute Entry: Status hearing held on 2/27/2027.": [
        Fact("held", "hearing", "2027-02-27", None, None, "Status hearing held on 2/27/2027")],
    "Responses due by 5/1/2027.": [
        Fact("deadline", "deadline", "2027-05-01", None, None, "Responses due by 5/1/2027")],
    "ORDER: all dates are VACATED pending the competency evaluation.": [
        Fact("vacated", "conference", "2027-05-04", None, None, "all dates are VACATED"),
        Fact("vacated", "sentencing", "2027-09-01", None, None, "all dates are VACATED"),
        Fact("vacated", "trial", "2027-03-01", None, None, "all dates are VACATED")],
    "Plea hearing may be set for 6/1/2027 if the parties agree.": [
        Fact("set", "plea", "2027-06-01", None, None, "Plea hearing may be set for 6/1/2027",
             certain=False)],
}


def table_extract(text: str, _filed: date | None = None) -> list[Fact]:
    return list(FACTS.get(text, []))
