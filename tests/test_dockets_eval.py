"""The docket extractor's evaluation on hand-labelled real docket text.

Runs the same scoring as ``bench/bench_dockets.py`` on every labelled entry (dev and
held-out) and fails when precision or recall on dated set/reset/vacated/held facts falls
below the targets, so a rule change that breaks real dockets fails CI. Speed is
measured by the benchmark, not here.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from notifier.dockets.extract import KINDS

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_dockets.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_dockets_under_test", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


bd = _bench()


def test_rules_meet_targets_on_the_whole_labelled_set() -> None:
    entries = bd.load("all")
    s = bd.score(entries, bd.rules)
    assert s.gold >= 190  # the labelled facts are really there
    assert s.precision >= bd.TARGET_PRECISION, (s.matched, s.predicted)
    assert s.recall >= bd.TARGET_RECALL, (s.matched, s.gold)
    # On the facts found, the time and the kind are right too.
    assert s.time_accuracy >= 0.95 and s.kind_accuracy >= 0.95
    # And the rules beat the regex baseline they are measured against.
    base = bd.score(entries, bd.baseline)
    assert s.precision > base.precision and s.recall > base.recall


def test_scoring_matches_on_action_and_date() -> None:
    entries = bd.load("dev")

    def gold(text: str, filed: date) -> list[dict[str, Any]]:
        return next(e["facts"] for e in entries if e["description"] == text)

    perfect = bd.score(entries, gold)
    assert (perfect.precision, perfect.recall) == (1.0, 1.0)
    silent = bd.score(entries, lambda text, filed: [])
    assert silent.recall == 0.0 and silent.predicted == 0

    def wrong_action(text: str, filed: date) -> list[dict[str, Any]]:
        return [{**f, "action": "vacated" if f["action"] != "vacated" else "set"}
                for f in gold(text, filed)]

    flipped = bd.score(entries, wrong_action)
    assert flipped.matched == 0 and flipped.predicted == perfect.predicted
    pairs, extra, missed = bd.compare(
        [{"action": "set", "kind": "trial", "date": "2027-05-04", "time": None},
         {"action": "deadline", "kind": "deadline", "date": "2027-05-01", "time": None}],
        [{"action": "set", "kind": "hearing", "date": "2027-05-04", "time": "10:00"},
         {"action": "held", "kind": "hearing", "date": "2027-02-27", "time": None}])
    assert len(pairs) == 1 and extra == [] and [m["action"] for m in missed] == ["held"]


def test_labelled_data_is_well_formed() -> None:
    dev, held, fresh = bd.load("dev"), bd.load("heldout"), bd.load("fresh")
    assert len(dev) + len(held) >= 300 and len(fresh) >= 80
    assert 0.25 <= len(held) / (len(dev) + len(held)) <= 0.40
    every = dev + held + fresh
    keys = [(e["path"], e["index"]) for e in every]
    assert len(set(keys)) == len(keys)
    assert len({e["id"] for e in every}) == len(every)
    iso, hhmm = re.compile(r"\d{4}-\d\d-\d\d\Z"), re.compile(r"([01]\d|2[0-3]):[0-5]\d\Z")
    for e in every:
        where = f"id {e['id']}"
        assert e["path"].startswith("tests/examples/pacer/") and e["path"].endswith(".json")
        assert isinstance(e["index"], int) and e["description"], where
        date.fromisoformat(e["date_filed"])
        for f in e["facts"]:
            assert f["action"] in bd.SCORED and f["kind"] in KINDS, where
            assert iso.match(f["date"]) and (f["time"] is None or hhmm.match(f["time"])), where
            assert f["from_date"] is None or iso.match(f["from_date"]), where
