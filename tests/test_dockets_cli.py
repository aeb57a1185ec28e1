"""`notifier dockets extract` through click's CliRunner: JSON and plain-text input from a
file or stdin, output in input order, and bad input named by item/line and value."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from notifier.cli.main import main


def _run(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["dockets", "extract", *args], input=stdin)
    return r.exit_code, r.stdout, r.stderr


def test_json_file_in_json_list_out_in_order(tmp_path: Path) -> None:
    f = tmp_path / "entries.json"
    f.write_text(json.dumps([
        {"description": "Sentencing reset to 10/20/2027 at 2:30 PM.", "date_filed": "2027-06-01"},
        {"description": "Certificate of service re: Notice of Hearing (Entered: 03/12/2027)",
         "date_filed": "2027-03-12"},
        {"description": "Motion Hearing set for 5/4 at 9:00 AM.", "date_filed": "2027-03-01"},
    ]))
    code, out, err = _run([str(f)])
    assert code == 0, err
    got = json.loads(out)
    assert [len(x["facts"]) for x in got] == [1, 0, 1]
    assert got[0]["facts"][0] == {
        "action": "reset", "kind": "sentencing", "date": "2027-10-20", "time": "14:30",
        "from_date": None, "quote": "Sentencing reset to 10/20/2027 at 2:30 PM.",
        "certain": True}
    # The year-less date took its year from this item's own date_filed.
    assert got[2]["facts"][0]["date"] == "2027-05-04"


def test_stdin_plain_text_one_entry_per_line() -> None:
    code, out, err = _run(["--filed", "2027-01-02"],
                          "Status hearing held on 1/2.\n\nResponses due by 5/1/2027.\n")
    assert code == 0, err
    got = json.loads(out)
    assert [[(f["action"], f["date"]) for f in x["facts"]] for x in got] == [
        [("held", "2027-01-02")], [("deadline", "2027-05-01")]]


def test_bad_json_names_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('[\n {"description": "x", "date_filed": "2027-01-01"},\n {oops}\n]')
    code, out, err = _run([str(f)])
    assert code == 1 and out == ""
    assert f"{f}: line 3 column 3: not valid JSON" in err


def test_bad_item_names_index_and_value() -> None:
    code, out, err = _run([], json.dumps([
        {"description": "Hearing set for 5/4/2027.", "date_filed": "2027-01-01"},
        {"description": "Hearing set for 5/4/2027.", "date_filed": "05/04/2027"}]))
    assert code == 1 and out == ""
    assert 'stdin: item 1: date_filed "05/04/2027" is not a YYYY-MM-DD date' in err
    code, _, err = _run([], json.dumps([{"date_filed": "2027-01-01"}]))
    assert code == 1 and "stdin: item 0: \"description\" must be a string, got null" in err
    code, _, err = _run([], json.dumps(["just text"]))
    assert code == 1 and "stdin: item 0: expected an object" in err and '"just text"' in err


def test_missing_file_and_bad_filed_option(tmp_path: Path) -> None:
    code, _, err = _run([str(tmp_path / "nope.json")])
    assert code == 1 and err == f"error: {tmp_path / 'nope.json'}: no such file\n"
    code, _, err = _run(["--filed", "yesterday"], "x\n")
    assert code == 2 and "'yesterday' is not a YYYY-MM-DD date" in err


def test_json_that_is_not_a_list_is_an_error_not_plain_text() -> None:
    # It used to be read as one line of plain text: [{"facts": []}], exit 0.
    code, out, err = _run([], '{"a": 1}\n')
    assert (code, out) == (1, "")
    assert err == ('error: stdin: a JSON object, not a list: expected a JSON list of '
                   '{"description": TEXT, "date_filed": "YYYY-MM-DD"} (put a single entry '
                   'in [ ])\n')
    code, out, err = _run([], '{"description": "Hearing set for 5/4/2027."\n')
    assert (code, out) == (1, "")
    assert err.startswith("error: stdin: line 2 column 1: not valid JSON (")


def test_file_not_utf8_named_with_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_bytes(b'[\n {"description": "Hearing \xff set"}]')
    code, out, err = _run([str(f)])
    assert (code, out) == (1, "")
    assert err == f"error: {f}: not UTF-8 text (byte 0xff at line 2, column 27); save it as UTF-8\n"
