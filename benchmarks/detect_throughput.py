"""How long the default detector ensemble takes to score one tick of 10,000 series.

Builds :func:`forecasting.ensemble.default_ensemble` for ``--series`` series (5-minute season of
288 ticks), feeds it ``--warmup`` ticks of synthetic daily-seasonal data with noise and spikes
(not timed; past every member's and every likelihood's warm-up, so all of them score), then
times ``--ticks`` further ticks. A tick costs the same however full the nearest-window member's
history is (it slides every lag each tick). Each run reports the mean seconds per tick; the
figure is the median of ``--repeat`` runs.

Target (issue 4): under 0.1 s per tick of 10,000 series.

    python benchmarks/detect_throughput.py --out results/detect_throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from forecasting.ensemble import DEFAULT_THRESHOLD, default_ensemble

SEASON = 288


def synthetic(series: int, ticks: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(ticks)[:, None]
    level = rng.uniform(10, 1000, series)
    daily = 1 + 0.3 * np.sin(2 * np.pi * (t + rng.integers(0, SEASON, series)) / SEASON)
    noise = 1 + 0.05 * rng.standard_normal((ticks, series))
    spikes = 1 + 2.0 * (rng.random((ticks, series)) < 0.001)
    return level * daily * noise * spikes


def run(series: int, warmup: int, ticks: int, seed: int) -> float:
    data = synthetic(series, warmup + ticks, seed)
    ensemble = default_ensemble(series, season=SEASON)
    for row in data[:warmup]:
        ensemble.update(row)
    t0 = time.perf_counter()
    for row in data[warmup:]:
        ensemble.update(row)
    return (time.perf_counter() - t0) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=2 * SEASON + 30)
    parser.add_argument("--ticks", type=int, default=300, help="timed ticks per run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"settings: default_ensemble(season={SEASON}), series={args.series}, "
        f"warmup={args.warmup} ticks, timed={args.ticks} ticks x {args.repeat} runs, "
        f"threshold={DEFAULT_THRESHOLD}, cpus={os.cpu_count()}, python={platform.python_version()}"
    )
    times = [run(args.series, args.warmup, args.ticks, seed) for seed in range(args.repeat)]
    median = statistics.median(times)
    print("runs (s/tick):", ", ".join(f"{t:.4f}" for t in times))
    print(f"seconds_per_tick (median): {median:.4f}  target < 0.1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"series": args.series, "seconds_per_tick": median}) + "\n")


if __name__ == "__main__":
    main()
