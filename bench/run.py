"""Run every benchmark and print one table of figures and ratios.

Usage: python bench/run.py [--quick] [NAME ...]

Each ``bench/bench_*.py`` module exposes ``run(quick: bool) -> list[Result]``.
Figures are medians over repeated runs; every ratio is against a baseline measured
in the same run on the same machine, because these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str  # what was measured
    value: float  # the median figure
    unit: str  # "ms", "s", "msg/s", ...
    baseline: float | None = None  # the same-run baseline figure, when there is one
    target: str = ""  # the goal, in words ("< 2x static", "< 100 ms")
    ok: bool | None = None  # whether the goal was met

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.value / self.baseline  # type: ignore[operator]


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    ap.add_argument("names", nargs="*", help="only these benchmarks (e.g. feed dispatch)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    results: list[Result] = []
    for path in sorted(HERE.glob("bench_*.py")):
        short = path.stem.removeprefix("bench_")
        if args.names and short not in args.names:
            continue
        print(f"running {short} ...", file=sys.stderr, flush=True)
        results += _load(path).run(args.quick)
    head = f"{'benchmark':<52} {'median':>12} {'baseline':>12} {'ratio':>7}  {'target':<22} ok"
    print(head)
    print("-" * len(head))
    for r in results:
        base = f"{r.baseline:.3f}" if r.baseline is not None else ""
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        print(f"{r.name:<52} {r.value:>9.3f} {r.unit:<2} {base:>12} {ratio:>7}  "
              f"{r.target:<22} {ok}")
    return 0 if all(r.ok is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
