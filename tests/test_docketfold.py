"""The fold of docket entries into events: set, reset, vacated, held, deadline, review."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from docketkit import table_extract

from notifier.dockets.extract import Fact
from notifier.sources.docketfold import Entry, FoldResult, fact_key, fold

TZ = ZoneInfo("America/New_York")


def _fold(*texts: str, decisions: dict[tuple[str, str], str] | None = None,
          extract=table_extract) -> FoldResult:  # type: ignore[no-untyped-def]
    entries = [Entry(key=f"e{n}", number=str(n), date_filed=date(2027, 2, n), text=t,
                     link=f"https://cl.example/docket/1/{n}/")
               for n, t in enumerate(texts, start=1)]
    return fold("roe", "c", TZ, entries, extract, decisions or {}, lambda c, e: f"{c}/{e}")


def _state(r: FoldResult) -> dict[str, tuple[str, str, str]]:
    out = {}
    for e in r.events:
        when = e.when.start.astimezone(TZ).isoformat() if e.when.start else str(e.when.date)
        out[e.event_id] = (e.kind, e.status, when)
    return out


def test_the_canonical_entries_fold_into_their_events() -> None:
    r = _fold("Status Conference set for 5/4/2027 10:00 AM before Judge Jane Roe.",
              "Sentencing set for 9/1/2027 at 11:00 AM.",
              "Jury Trial set for 3/1/2027.",
              "Sentencing reset to 10/20/2027 at 2:30 PM.",
              "Jury Trial continued from 3/1/2027 to 4/12/2027.",
              "The hearing on 5/4/2027 is VACATED.",
              "Responses due by 5/1/2027.")
    assert _state(r) == {
        # A vacated "hearing" on the conference's date cancels the conference.
        "conference-1": ("conference", "cancelled", "2027-05-04T10:00:00-04:00"),
        "sentencing-2": ("sentencing", "scheduled", "2027-10-20T14:30:00-04:00"),
        "trial-3": ("trial", "scheduled", "2027-04-12"),
        "deadline-7": ("deadline", "scheduled", "2027-05-01"),
    }
    prov = r.provenance["c/sentencing-2"]
    assert (prov.number, prov.quote) == ("4", "Sentencing reset to 10/20/2027 at 2:30 PM")
    notes = next(e.notes for e in r.events if e.event_id == "sentencing-2")
    assert notes == ("From docket entry 4, filed 2027-02-04: “Sentencing reset to 10/20/2027 at "
                     "2:30 PM”\nhttps://cl.example/docket/1/4/")
    assert r.review == [] and r.unmatched == []


def test_entries_are_applied_in_docket_order_whatever_order_they_are_read_in() -> None:
    texts = ["Sentencing set for 9/1/2027 at 11:00 AM.",
             "Sentencing reset to 10/20/2027 at 2:30 PM."]
    a = _fold(*texts)
    entries = [Entry(key=f"e{n}", number=str(n), date_filed=date(2027, 2, n), text=t)
               for n, t in enumerate(texts, start=1)]
    b = fold("roe", "c", TZ, list(reversed(entries)), table_extract, {}, lambda c, e: e)
    assert _state(a) == _state(b)


def test_a_repeated_set_confirms_and_a_reset_without_an_event_adds_one() -> None:
    r = _fold("Sentencing set for 9/1/2027 at 11:00 AM.",
              "Sentencing set for 9/1/2027 at 11:00 AM.")
    assert list(_state(r)) == ["sentencing-1"]
    # The confirming entry does not take over the provenance (notes stay put).
    assert r.provenance["c/sentencing-1"].number == "1"
    r = _fold("Sentencing reset to 10/20/2027 at 2:30 PM.")
    assert _state(r) == {"sentencing-1": ("sentencing", "scheduled", "2027-10-20T14:30:00-04:00")}


def test_reset_moves_the_nearest_open_event_of_its_kind() -> None:
    def fx(text: str, _filed: date | None = None) -> list[Fact]:
        facts = {
            "a": [Fact("set", "hearing", "2027-01-10", None, None, "a")],  # already past
            "b": [Fact("set", "hearing", "2027-03-10", None, None, "b")],
            "c": [Fact("set", "hearing", "2027-06-10", None, None, "c")],
            "d": [Fact("reset", "hearing", "2027-04-01", None, None, "d")],
            "e": [Fact("held", "hearing", None, None, None, "e")],
        }
        return facts[text]
    # Filed in February: the first open hearing on or after the filing date moves.
    r = _fold("a", "b", "c", "d", extract=fx)
    assert _state(r) == {"hearing-1": ("hearing", "scheduled", "2027-01-10"),
                         "hearing-2": ("hearing", "scheduled", "2027-04-01"),
                         "hearing-3": ("hearing", "scheduled", "2027-06-10")}
    # "held" without a date: the latest open one on or before the filing date.
    r = _fold("a", "e", extract=fx)
    assert _state(r) == {"hearing-1": ("hearing", "completed", "2027-01-10")}


def test_held_and_vacated_that_match_nothing_are_listed_not_applied() -> None:
    r = _fold("The hearing on 5/4/2027 is VACATED.")
    assert r.events == [] and [p.fact.action for p in r.unmatched] == ["vacated"]


def test_uncertain_facts_wait_for_review_and_join_once_accepted() -> None:
    text = "Plea hearing may be set for 6/1/2027 if the parties agree."
    r = _fold(text)
    assert r.events == [] and len(r.review) == 1
    key = ("e1", r.review[0].fact_key)
    assert r.review[0].fact_key == fact_key(table_extract(text)[0])
    accepted = _fold(text, decisions={key: "accepted"})
    assert _state(accepted) == {"plea-1": ("plea", "scheduled", "2027-06-01")}
    assert accepted.review == []
    rejected = _fold(text, decisions={key: "rejected"})
    assert rejected.events == [] and rejected.review == []
