"""Measure name matching on held-out cases made from the real extracts, before and after.

    .venv/bin/python scripts/bench_matching.py [--seed 10] [--per-kind 12] [--baseline main]
        [--show-failures tune|held-out] [--timing-country R1428125]

Reads every country of POSM_EXTRACTS_DIR (names and parents only, as one world
snapshot, as a worker holds it), splits the countries into a tuning third and a
held-out rest (fixed by the seed), makes the cases of ``tests/matching_cases.py``
for each, and answers them as a flow does (level and country given, no parent)
with the working tree's ``geo/lookup/matching.py`` and with the baseline
revision's copy of it (``git show BASELINE:geo/lookup/matching.py``, loaded
beside it in the same run). Prints right / wrong / no answer / ambiguous per kind
as percentages, then per-call time on the country with the most districts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from tests.matching_cases import Case  # noqa: E402 (needs the project on sys.path)

OUTCOMES = ("right", "wrong", "none", "ambiguous")


def load_baseline(revision: str) -> ModuleType:
    """Import ``geo/lookup``'s names, hierarchy and matching as they are at ``revision``.

    They land in a package of their own (``baseline_lookup``), so both versions
    run side by side in one process, each with its own folding and index.
    """
    folder = Path(tempfile.mkdtemp(prefix="bench-matching-")) / "baseline_lookup"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module in ("names", "hierarchy", "matching"):
        source = subprocess.run(
            ["git", "show", f"{revision}:geo/lookup/{module}.py"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        (folder / f"{module}.py").write_text(source.replace("geo.lookup.", "baseline_lookup."))
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module("baseline_lookup.matching")


def table(title: str, results: dict[str, dict[str, Counter[str]]], kinds: list[str]) -> None:
    """Print outcome percentages per kind for each implementation."""
    names = list(results)
    print(f"\n{title}")
    header = f"{'kind':<17} {'cases':>5} " + " ".join(
        f"| {name:<6} right  wrong   none   amb." for name in names
    )
    print(header)
    print("-" * len(header))
    for kind in [*kinds, "all"]:
        total = sum(results[names[0]][kind].values())
        if not total:
            continue
        cells = []
        for name in names:
            counts = results[name][kind]
            cells.append(
                "| " + " " * 6 + "".join(f"{100 * counts[o] / total:6.1f} " for o in OUTCOMES)
            )
        print(f"{kind:<17} {total:>5} " + " ".join(cells))


Answer = Callable[[Case], tuple[list[str], bool]]


def answerer(module: ModuleType, hierarchy: Any, *, in_country: bool = True) -> Answer:
    """Answer a case as a flow asks: level and country given (unless not), no parent."""

    def answer(case: Case) -> tuple[list[str], bool]:
        country = hierarchy.by_osm_id[case.country].id if in_country else None
        result = module.match_text(
            hierarchy, case.text, scope=module.Scope(level=case.level, country_id=country)
        )
        return [m.place.osm_id for m in result.matches], result.ambiguous

    return answer


def outcome(case: Case, answer: Answer) -> str:
    """Judge one answer: right, wrong, none or ambiguous."""
    from tests.matching_cases import judge

    osm_ids, ambiguous = answer(case)
    return judge(case, osm_ids, ambiguous=ambiguous)


def measure(
    title: str, cases: list[Case], answers: dict[str, Answer], *, show_failures: Answer | None
) -> None:
    """Print the outcome table of ``cases`` for every implementation (and the failures)."""
    from tests.matching_cases import KINDS, judge, tally

    results = {name: tally(cases, answer) for name, answer in answers.items()}
    table(f"{title}: {len(cases)} cases, % of each kind", results, list(KINDS))
    for name in answers:
        counts = results[name]["all"]
        places = counts - results[name]["everyday"]
        total, named = sum(counts.values()), sum(places.values())
        print(f"{name:>6}: overall {100 * counts['right'] / total:.1f} % right, "
              f"{100 * counts['wrong'] / total:.2f} % wrong; naming a place "
              f"{100 * places['right'] / named:.1f} % right, "
              f"{100 * places['wrong'] / named:.2f} % wrong")  # fmt: skip
    before, after = answers.values()
    lost = [case for case in cases if outcome(case, before) == "right" != outcome(case, after)]
    print(f"right before, not now: {len(lost)} of {len(cases)}"
          + "".join(f"\n  {c.kind} {c.country} L{c.level} {c.text!r}" for c in lost[:10]))  # fmt: skip
    if show_failures is not None:
        for case in cases:
            osm_ids, ambiguous = show_failures(case)
            verdict = judge(case, osm_ids, ambiguous=ambiguous)
            if verdict != "right":
                print(f"  {verdict:<9} {case.kind:<16} {case.country} L{case.level} "
                      f"{case.text!r} want {case.expected} got {osm_ids[:3]}")  # fmt: skip


def time_calls(
    cases: list[Case], answers: dict[str, Answer], *, repeat: int, kinds: list[str]
) -> None:
    """Print the mean per-call time per kind, before and after, and their ratio."""
    # The machine is shared: each case keeps its fastest of several passes, both versions
    # taking turns, so a busy moment slows neither version alone.
    fastest = {name: [float("inf")] * len(cases) for name in answers}
    for _ in range(repeat):
        for name, answer in answers.items():
            times = fastest[name]
            for number, case in enumerate(cases):
                start = time.perf_counter()
                answer(case)
                times[number] = min(times[number], time.perf_counter() - start)
    print(f"{'kind':<17} {'before µs':>10} {'after µs':>10} {'ratio':>6}")
    for kind in kinds:
        numbers = [i for i, case in enumerate(cases) if kind in ("all", case.kind)]
        if numbers:
            before, after = (
                sum(fastest[name][i] for i in numbers) / len(numbers) * 1e6 for name in answers
            )
            print(f"{kind:<17} {before:>10.1f} {after:>10.1f} {after / before:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--per-kind", type=int, default=12, help="cases per kind, country, level")
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--show-failures", choices=("tune", "held-out"), default=None)
    parser.add_argument("--timing-country", default=None, help="default: most districts")
    parser.add_argument("--repeat", type=int, default=7, help="timing passes over its cases")
    args = parser.parse_args()

    from geo.lookup import matching
    from tests.matching_cases import KINDS, make_cases, read_extracts, split_countries

    extracts = Path(
        os.environ.get(
            "POSM_EXTRACTS_DIR", ROOT.parent / "shared" / "data" / "posm-extracts" / "geojson"
        )
    )
    started = time.perf_counter()
    world = read_extracts(extracts)
    countries = sorted(p.osm_id for p in world.places.values() if p.level == 0)
    print(f"read {len(world.places)} boundaries of {len(countries)} countries from {extracts} "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    tune, held_out = split_countries(countries, seed=args.seed)
    print(f"tune ({len(tune)}): {' '.join(tune)}")
    print(f"held-out ({len(held_out)}): {' '.join(held_out)}")
    baseline = load_baseline(args.baseline)
    # The baseline indexes the same places with its own folding.
    old_world = baseline.Hierarchy(
        baseline.Place(*(getattr(place, f) for f in baseline.Place.__slots__))
        for place in world.places.values()
    )
    answers = {
        args.baseline[:6]: answerer(baseline, old_world),
        "now": answerer(matching, world),
    }
    for title, split in (("tune", tune), ("held-out", held_out)):
        cases = make_cases(world, split, seed=args.seed, per_kind=args.per_kind)
        failures = answers["now"] if args.show_failures == title else None
        measure(title, cases, answers, show_failures=failures)

    by_districts = Counter(
        p.country_id for p in world.places.values() if p.level == 2 and p.country_id is not None
    )
    timing_country = args.timing_country or world.places[by_districts.most_common(1)[0][0]].osm_id
    cases = make_cases(world, [timing_country], seed=args.seed, per_kind=args.per_kind)
    print(f"\nper-call time on {timing_country} ({world.by_osm_id[timing_country].name}, "
          f"{by_districts[world.by_osm_id[timing_country].id]} districts, world snapshot), "
          f"{len(cases)} cases, best of {args.repeat} interleaved passes:")  # fmt: skip
    time_calls(cases, answers, repeat=args.repeat, kinds=[*KINDS, "all"])
    print("the same cases with no country in scope (a workspace over the whole world):")
    answers = {
        args.baseline[:6]: answerer(baseline, old_world, in_country=False),
        "now": answerer(matching, world, in_country=False),
    }
    time_calls(cases, answers, repeat=args.repeat, kinds=["all"])


if __name__ == "__main__":
    main()
