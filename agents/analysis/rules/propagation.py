"""The fallback: the deepest troubled services, which no troubled callee explains."""

from __future__ import annotations

from collections.abc import Iterable

from ..causes import Cause, Finding
from ..facts import Facts
from .common import (
    callee_explains,
    depth,
    ev,
    service_ref,
)


def propagation_rules(f: Facts) -> Iterable[Finding]:
    for key in sorted(f.anomalous):
        if not f.troubled(key) and not f.signal_metrics(key):
            continue
        if callee_explains(f, key) is not None:
            continue
        metrics = f.signal_metrics(key)
        if "restarts" in metrics or f.svc(key, "restarts").high >= 1:
            cause, score = Cause.CRASHING, 0.45
        elif f.errors_up(key):
            cause, score = Cause.FAILING, 0.35
        else:
            cause, score = Cause.SLOW, 0.3
        callers = sorted(f.ctx.topology.upstream(key) & f.anomalous)
        yield Finding(
            cause,
            service_ref(key),
            score + 0.01 * min(depth(f, key), 5),
            f"{key} is the deepest troubled service; {len(callers)} troubled caller(s) "
            "depend on it",
            [
                ev("troubled callers", ", ".join(callers) or "none"),
                ev("symptoms", ", ".join(sorted(metrics)) or "edge"),
            ],
            service=key,
        )
