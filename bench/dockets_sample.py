"""Draw the labelled docket sample from juriscraper's PACER test fixtures (run once).

Usage: python bench/dockets_sample.py JURISCRAPER_GIT_DIR > sample.jsonl
       python bench/dockets_sample.py --fresh JURISCRAPER_GIT_DIR > fresh.jsonl

Reads every ``tests/examples/pacer/**.json`` fixture at HEAD of a juriscraper clone
(``git show``, so a bare mirror works), takes each docket entry's description and
date_filed, and draws a stratified sample with a fixed seed: most entries state a date
near a scheduling word (where the facts are), some mention scheduling without a date,
some are anything else (the negatives a docket is mostly made of). At most three
entries per fixture, no duplicate texts; every third sampled entry is held out.
``--fresh`` draws a second, smaller held-out set (seed 14, 90 entries, same strata
proportions) from entries not already labelled under ``bench/data/dockets/``: it was
labelled after all rule tuning, as a blind check.
The strata use plain regexes of their own, not the extractor, so the sample does not
favour what the rules already read.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

SEED = 13
SIZES = {"dated": 210, "undated": 45, "other": 65}
FRESH_SEED = 14
FRESH_SIZES = {"dated": 60, "undated": 12, "other": 18}
DATA = Path(__file__).resolve().parent / "data" / "dockets"
PER_FIXTURE = 3
_DATE = re.compile(r"\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
                   r"oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b|\bday\s+of\b", re.IGNORECASE)
_ENTERED = re.compile(r"\(Entered:[^)]*\)", re.IGNORECASE)
_SCHED = re.compile(r"\b(?:set|reset|continued|rescheduled|vacated|held|cancel+ed|stricken|"
                    r"due|deadlines?|hearing|conference|trial|sentencing|arraignment|plea|"
                    r"341|meeting)\b", re.IGNORECASE)


def entries(git_dir: str) -> list[dict[str, object]]:
    names = subprocess.run(["git", "-C", git_dir, "ls-tree", "-r", "--name-only", "HEAD",
                            "tests/examples/pacer/"], capture_output=True, text=True,
                           check=True).stdout.split()
    out: list[dict[str, object]] = []
    for path in sorted(n for n in names if n.endswith(".json")):
        raw = subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{path}"],
                             capture_output=True, text=True, check=True).stdout
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            continue
        items = data.get("docket_entries") if isinstance(data, dict) else None
        for i, e in enumerate(items or []):
            if isinstance(e, dict) and e.get("description") and e.get("date_filed"):
                out.append({"path": path, "index": i, "description": e["description"],
                            "date_filed": str(e["date_filed"])[:10]})
    return out


def stratum(text: str) -> str:
    bare = _ENTERED.sub("", text)
    if _SCHED.search(bare):
        return "dated" if _DATE.search(bare) else "undated"
    return "other"


def _labelled() -> set[tuple[str, int]]:
    out = set()
    for f in DATA.glob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                e = json.loads(line)
                out.add((e["path"], e["index"]))
    return out


def main(git_dir: str, fresh: bool = False) -> None:
    seed, sizes = (FRESH_SEED, FRESH_SIZES) if fresh else (SEED, SIZES)
    rng = random.Random(seed)
    pool = entries(git_dir)
    if fresh:
        done = _labelled()
        texts = {str(e["description"]) for e in pool if (e["path"], e["index"]) in done}
        pool = [e for e in pool if (e["path"], e["index"]) not in done
                and str(e["description"]) not in texts]
    rng.shuffle(pool)
    seen: set[str] = set()
    per_file: dict[str, int] = {}
    taken: dict[str, list[dict[str, object]]] = {k: [] for k in sizes}
    for e in pool:
        text, path = str(e["description"]), str(e["path"])
        s = stratum(text)
        if text in seen or per_file.get(path, 0) >= PER_FIXTURE or len(taken[s]) >= sizes[s]:
            continue
        seen.add(text)
        per_file[path] = per_file.get(path, 0) + 1
        taken[s].append({**e, "stratum": s})
    sample = [e for s in sizes for e in taken[s]]
    rng.shuffle(sample)
    for n, e in enumerate(sample):
        if fresh:
            e["id"], e["split"] = 1000 + n, "fresh"
        else:
            e["id"] = n
            e["split"] = "heldout" if n % 3 == 2 else "dev"
        print(json.dumps(e, sort_keys=True))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--fresh"]
    main(args[0], fresh="--fresh" in sys.argv)
