"""A stand-in control-plane process for the leader-election process test.

``python -m tests.controlplane.leader_worker --url URL --holder NAME`` ticks a
:class:`~controlplane.leader.LeaderElection` every ``--interval`` seconds and, after each tick
that leaves it leader, writes ``"epoch holder time"`` to stdout (``time``: epoch seconds, the
instant it checked it was leader). SIGTERM (or ``--duration`` running out) releases the lease
and exits 0; SIGKILL is the crash the test injects.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from controlplane.clock import SystemClock
from controlplane.leader import LeaderElection
from controlplane.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--holder", required=True)
    parser.add_argument("--ttl", type=float, default=1.5)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--duration", type=float, default=30.0, help="exit after this long")
    args = parser.parse_args(argv)

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    clock = SystemClock()
    store = Store.open(args.url, clock=clock, actor=args.holder, migrate=False)
    election = LeaderElection(store, args.holder, ttl_s=args.ttl)
    end = time.monotonic() + args.duration
    try:
        while not stopping and time.monotonic() < end:
            started = time.monotonic()
            epoch = election.tick()
            now, until = clock.now(), election.leader_until
            if epoch is not None and until is not None and now < until:
                sys.stdout.write(f"{epoch} {args.holder} {now:.6f}\n")
                sys.stdout.flush()
            time.sleep(max(0.0, args.interval - (time.monotonic() - started)))
    finally:
        election.release()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
