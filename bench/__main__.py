"""``python -m bench [NAME ...] [--quick]``: run the benchmarks, print one table, save it.

Each benchmark measures its baseline in the same run on the same machine and reports the ratio.
``--quick`` runs smaller, shorter versions (for trying changes; the README quotes full runs).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from bench import harness
from bench.harness import Row, say


def benchmarks(quick: bool) -> dict[str, Callable[[], list[Row]]]:
    from bench import dispatch, e2e, ingest, memory, postgres_scaling, slow_subscriber, soak

    return {
        "ingest": lambda: ingest.run(runs=1 if quick else 3, duration=4 if quick else 10),
        "dispatch": lambda: dispatch.run(runs=1 if quick else 3, total=5000 if quick else 20000),
        "e2e": lambda: e2e.run(runs=1 if quick else 3),
        "memory": lambda: memory.run(100_000, 10_000) if quick else memory.run(),
        "postgres": lambda: postgres_scaling.run(4000, 1) if quick else postgres_scaling.run(),
        "slowsub": lambda: slow_subscriber.run(runs=1, jobs=200) if quick else slow_subscriber.run(),
        "soak": lambda: soak.run(quick),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", help="ingest, dispatch, e2e, memory, postgres, slowsub, soak (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller and shorter runs")
    args = parser.parse_args()
    available = benchmarks(args.quick)
    names = args.names or list(available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(available)}")
    rows: list[Row] = []
    started = time.monotonic()
    for name in names:
        say(f"--- {name}")
        rows += available[name]()
    report = "\n".join(
        [
            f"hookline benchmarks, {time.strftime('%Y-%m-%d')}, {harness.machine()}",
            f"server on core {harness.SERVER_CORE}; load generators, sinks and subscribers on core {harness.TOOL_CORE}",
            "",
            harness.table(rows),
            "",
            f"({time.monotonic() - started:.0f} s{', --quick' if args.quick else ''})",
        ]
    )
    print(report)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
