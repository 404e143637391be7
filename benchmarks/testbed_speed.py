"""How fast the testbed simulates, and how long a full /metrics scrape takes.

Simulates a small cluster (10 nodes, about 100 pods) and a large one (1,000 nodes, about 10,000
pods: the default application deployed into many namespaces with its replicas scaled up), with
the default settings (1 s tick, default timing, seeded noise on). After a warm-up in which every
pod becomes Ready (not timed), it times ``--ticks`` ticks on one thread and reports
``sim_seconds_per_wall_second``; for the large cluster it also times full ``/metrics`` scrapes
over HTTP from a running server. Each figure is the median of ``--repeat`` runs.

Targets (issue 2): >= 50x real time at 10,000 pods with a 1 s tick on one core; a full /metrics
scrape of that cluster in under 1 s.

    python benchmarks/testbed_speed.py --out results/testbed_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import urllib.request
from pathlib import Path

from testbed.app import AppSpec, load_app
from testbed.cluster import Cluster
from testbed.runner import TestbedServer

REPLICA_SCALE = 6


def scaled_app(base: AppSpec, namespace: str) -> tuple[AppSpec, str]:
    services = tuple(
        s.model_copy(update={"replicas": s.replicas * REPLICA_SCALE}) for s in base.services
    )
    return base.model_copy(update={"services": services, "namespace": namespace}), namespace


def build(nodes: int, namespaces: int, seed: int) -> Cluster:
    base = load_app()
    pool = base.cluster.node_pools[0].model_copy(update={"count": nodes})
    apps = [scaled_app(base, f"hotel-{i:03d}") for i in range(namespaces)]
    return Cluster(apps, seed=seed, node_pools=[pool])


def warm(cluster: Cluster, limit_s: float = 600) -> float:
    t0 = time.perf_counter()
    while cluster.elapsed < limit_s:
        cluster.advance(10)
        if all(p.ready for p in cluster.pods.values()) and not cluster.pending:
            break
    return time.perf_counter() - t0


def sim_speed(cluster: Cluster, ticks: int) -> float:
    t0 = time.perf_counter()
    for _ in range(ticks):
        cluster.step()
    return ticks * cluster.tick / (time.perf_counter() - t0)


def scrape_seconds(cluster: Cluster, repeat: int) -> tuple[list[float], int]:
    with TestbedServer(cluster) as server:
        times, size = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as resp:
                body = resp.read()
            times.append(time.perf_counter() - t0)
            size = len(body)
    return times, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--ticks", type=int, default=300, help="timed ticks per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sizes = {"small": (10, 1), "large": (1000, 104)}
    result: dict[str, object] = {
        "settings": {
            "tick_s": 1.0,
            "timing": "defaults",
            "noise": 0.03,
            "load": "app default (diurnal alibaba trace)",
            "replica_scale": REPLICA_SCALE,
            "ticks": args.ticks,
            "repeat": args.repeat,
            "seed": args.seed,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
    print(f"settings: {result['settings']}")
    for label, (nodes, namespaces) in sizes.items():
        speeds = []
        cluster = None
        for run in range(args.repeat):
            cluster = build(nodes, namespaces, args.seed + run)
            warm_s = warm(cluster)
            speeds.append(sim_speed(cluster, args.ticks))
            print(
                f"{label}: run {run + 1}: {len(cluster.nodes)} nodes, {len(cluster.pods)} pods, "
                f"warm-up {warm_s:.1f} s, {speeds[-1]:.1f} sim s / wall s"
            )
        assert cluster is not None
        entry = {
            "nodes": len(cluster.nodes),
            "pods": len(cluster.pods),
            "sim_seconds_per_wall_second": statistics.median(speeds),
            "runs": speeds,
        }
        if label == "large":
            times, size = scrape_seconds(cluster, args.repeat)
            entry["metrics_scrape_seconds"] = statistics.median(times)
            entry["metrics_scrape_runs"] = times
            entry["metrics_bytes"] = size
            result["metrics_scrape_seconds"] = statistics.median(times)
            print(f"large: /metrics scrape {statistics.median(times):.3f} s ({size / 1e6:.1f} MB)")
        result[label] = entry
        result[f"sim_seconds_per_wall_second_{label}"] = entry["sim_seconds_per_wall_second"]
        print(f"{label}: median {entry['sim_seconds_per_wall_second']:.1f} sim s / wall s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
