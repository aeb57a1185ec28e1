"""The docket extractor on the canonical entries other code and tests rely on, and on
the forms of dates, times and verbs clerks write."""

from __future__ import annotations

from datetime import date

import pytest

from notifier.dockets.extract import Fact, extract

FILED = date(2027, 3, 1)

# (text, [(action, kind, date, time, from_date)])
CANONICAL = [
    ("Status Conference set for 5/4/2027 10:00 AM before Judge Jane Roe.",
     [("set", "conference", "2027-05-04", "10:00", None)]),
    ("Sentencing reset to 10/20/2027 at 2:30 PM.",
     [("reset", "sentencing", "2027-10-20", "14:30", None)]),
    ("Jury Trial continued from 3/1/2027 to 4/12/2027.",
     [("reset", "trial", "2027-04-12", None, "2027-03-01")]),
    ("The hearing on 5/4/2027 is VACATED.",
     [("vacated", "hearing", "2027-05-04", None, None)]),
    ("Minute Entry: Status hearing held on 2/27/2027.",
     [("held", "hearing", "2027-02-27", None, None)]),
    ("Responses due by 5/1/2027.",
     [("deadline", "deadline", "2027-05-01", None, None)]),
    ("Certificate of service re: Notice of Hearing (Entered: 03/12/2027)", []),
]

MORE = [
    ("ORDER as to John Doe. Signed by Judge Jane Roe on 1/27/2010. (Entered: 01/27/2010)", []),
    ("NOTICE OF HEARING: Change of Plea Hearing set for the 4th day of May, 2027 at 1:30 p.m.",
     [("set", "plea", "2027-05-04", "13:30", None)]),
    ("Final Pretrial Conference set for Jan. 27, 2027 at 9:00. Jury Trial set for 2/3/27 "
     "09:00 AM. Motions due by 1/5/2027.",
     [("set", "conference", "2027-01-27", "09:00", None),
      ("set", "trial", "2027-02-03", "09:00", None),
      ("deadline", "deadline", "2027-01-05", None, None)]),
    ("Sentencing set for 10/1/2027 is continued to November 1, 2027 at 10:00 am.",
     [("reset", "sentencing", "2027-11-01", "10:00", "2027-10-01")]),
    # Year-less: completed from the filing date (a date long before it is next year's).
    ("Motion Hearing set for 5/4 at 1:30 before Judge Roe.",
     [("set", "hearing", "2027-05-04", "13:30", None)]),
    ("Status Conference set for Jan. 5 at 9 a.m.",
     [("set", "conference", "2027-01-05", "09:00", None)]),
    ("MOTION to Continue Jury Trial from 4/1/2027 to 5/1/2027 by John Doe.", []),
    # Forms from real dockets (juriscraper PACER fixtures).
    ("Notice of Hearing on Motion for Relief Hearing Date: 2/9/27 Hearing Time: 1:30pm with "
     "Certificate of Service", [("set", "hearing", "2027-02-09", "13:30", None)]),
    ("Hearing Continued (RE: 54 Assume/Reject). hearing scheduled for 04/29/2027 at 11:00 AM "
     "at Courtroom 682. Signed on 03/01/2027.",
     [("reset", "hearing", "2027-04-29", "11:00", None)]),
    ("Omnibus Hearings scheduled for 4/21/2027 at 09:00 AM., 5/18/2027 at 09:00 AM., "
     "6/25/2027 at 09:30 AM. Signed on 3/1/2027.",
     [("set", "hearing", "2027-04-21", "09:00", None),
      ("set", "hearing", "2027-05-18", "09:00", None),
      ("set", "hearing", "2027-06-25", "09:30", None)]),
    ("Hearing not held on 2/15/2027. (RE: related document(s)40 Motion) - SURRENDER -",
     [("vacated", "hearing", "2027-02-15", None, None)]),
    ("Hearing held on 2/24/2027. (RE: related document(s)25 Objection) - PASSED BY COURT TO "
     "4/2/2027 -", [("held", "hearing", "2027-02-24", None, None),
                    ("reset", "hearing", "2027-04-02", None, None)]),
    ("THE COURT WILL HOLD A HEARING ON THIS MOTION ON APRIL 8, 2027, AT 10:30 A.M.",
     [("set", "hearing", "2027-04-08", "10:30", None)]),
    ("Motion hearing set for 10:30 04/03/2027 DAE (bbb)",
     [("set", "hearing", "2027-04-03", "10:30", None)]),
    ("ORDER granting motion of Continuance. Time excluded from 3/23/27 to 5/1/27 as to J. Doe.",
     []),
    ("(ENTERED IN ERROR) Proposed Order (Hearing scheduled for 4/19/2027 at 10:00 AM)", []),
    ("Minute Entry: Defendant released. Schedule for Sentence on or after 5/13/2027.", []),
    ("Transcript Designation set for 4/28/2027.",
     [("deadline", "deadline", "2027-04-28", None, None)]),
]


def _shape(facts: list[Fact]) -> list[tuple[str, str, str | None, str | None, str | None]]:
    return [(f.action, f.kind, f.date, f.time, f.from_date) for f in facts]


@pytest.mark.parametrize(("text", "expected"), CANONICAL + MORE)
def test_entries(text: str, expected: list[tuple[str, ...]]) -> None:
    facts = extract(text, FILED)
    assert _shape(facts) == expected
    for f in facts:
        assert f.quote and f.quote in text, f.quote
    if (text, expected) in CANONICAL:
        assert all(f.certain for f in facts)


def test_quote_is_the_stating_substring() -> None:
    (fact,) = extract("Minute Entry: Status hearing held on 2/27/2027.", FILED)
    assert fact.quote == "Status hearing held on 2/27/2027"


def test_unsure_kind_is_uncertain() -> None:
    (fact,) = extract("Matter set for 6/2/2027 at 10:00 AM.", FILED)
    assert (fact.action, fact.kind, fact.certain) == ("set", "other", False)


def test_kind_only_from_the_heading_is_uncertain() -> None:
    held, moved = extract("Hearing held on 2/24/2027. (RE: related document(s)25 Objection) "
                          "- PASSED BY COURT TO 4/2/2027 -", FILED)
    assert held.certain and not moved.certain and moved.kind == "hearing"


def test_no_date_filed_and_yearless_gives_no_date_fact() -> None:
    assert extract("Motion Hearing set for 5/4 at 1:30.", None) == []


def test_yearless_date_long_before_filing_is_next_year() -> None:
    (fact,) = extract("Status Conference set for Jan. 5 at 9 a.m.", date(2027, 12, 10))
    assert (fact.date, fact.time) == ("2028-01-05", "09:00")
