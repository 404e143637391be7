"""Copy the CPU column of the shared data-centre traces into ``testbed/data``.

Usage::

    python scripts/extract_traces.py [TRACES_DIR]

``TRACES_DIR`` defaults to ``../shared/data/traces`` relative to the repository root. Only the CPU
column of each trace is kept, rounded to 4 decimals, so the files the testbed ships stay small.
The attribution the traces' licence (CC-BY-4.0) asks for is in ``testbed/data/NOTICE.md``.
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "traces"
DEST = REPO_ROOT / "testbed" / "data"

# (source file, column kept, file written)
TRACES = (
    ("alibaba2018_machine_usage_300s.csv", "cpu_util_percent", "alibaba2018_cpu_300s.csv"),
    ("google2019_instance_usage_300s.csv", "avg_cpu", "google2019_cpu_300s.csv"),
)


def extract_column(source: Path, column: str, dest: Path) -> int:
    """Write ``column`` of ``source`` to ``dest``, rounded to 4 decimals; return the row count."""
    with source.open(newline="") as src:
        values = [float(row[column]) for row in csv.DictReader(src)]
    lines = [column, *(repr(round(value, 4)) for value in values)]
    dest.write_text("\n".join(lines) + "\n")
    return len(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces_dir", nargs="?", type=Path, default=DEFAULT_SOURCE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for source_name, column, dest_name in TRACES:
        rows = extract_column(args.traces_dir / source_name, column, DEST / dest_name)
        logger.info("%s: %d rows of %s -> %s", source_name, rows, column, DEST / dest_name)


if __name__ == "__main__":
    main()
