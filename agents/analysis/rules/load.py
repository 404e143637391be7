"""The load rule: requests into the entry surged or grew while services saturate."""

from __future__ import annotations

from collections.abc import Iterable

from ..causes import Cause, Finding
from ..facts import Facts
from ..topology import split_key
from .common import (
    entries,
    ev,
    pressure,
    rounded,
    service_ref,
)


def load_rules(f: Facts) -> Iterable[Finding]:
    saturated = sorted(
        (k for k in f.services if pressure(f, k) >= 0.75), key=lambda k: (-pressure(f, k), k)
    )
    for entry in entries(f):
        rps = f.svc(entry, "rps")
        namespace, _ = split_key(entry)
        long_base = f.long_base(f"service/{namespace}/{split_key(entry)[1]}/rps")
        mine = [s for s in saturated if s.startswith(f"{namespace}/")]
        surge = rps.ratio()
        growing = long_base > 0 and rps.base >= 1.1 * long_base and rps.low >= 1.3 * long_base
        if surge >= 1.8:
            score, what = (0.92 if mine else 0.6), "surged"
        elif growing and rps.low >= rps.base:
            score, what = (0.88 if mine else 0.4), "grew"
        else:
            continue
        yield Finding(
            Cause.LOAD_SURGE,
            service_ref(entry),
            score,
            f"requests into {entry} {what} to {rps.last:.0f}/s; {len(mine)} service(s) saturated",
            [
                ev("requests", rounded(rps.last, 1), rounded(rps.base, 1), "rps"),
                ev("an hour before", rounded(long_base, 1), unit="rps"),
                ev("saturated", ", ".join(mine) or "none"),
            ],
            service=entry,
            peers=tuple(mine),
        )
