"""Verification: after an action, the SLOs must recover and hold, or the action is undone.

A :class:`Watch` follows one executed action. Each tick :meth:`Verifier.check` reads the SLO
status (through the kernel's :class:`~controlplane.domain.SLOReader`) of the services it
watches and answers:

* ``recovered``: every watched SLO has been met continuously for ``hold_s``;
* ``regressed``: after a grace period, some watched SLO burns its budget faster than
  ``regression_factor`` times what it did when the action ran (and is violated): the action
  made things worse, and the loop runs its inverse (no-regression);
* ``not_recovered``: ``deadline_s`` passed without recovery: the loop tries the next candidate
  or escalates;
* ``pending``: none of these yet.

Watched SLOs are those of the incident's services when they have one, otherwise every SLO of the
incident's namespace (the entry service's SLO is what users feel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from controlplane.domain import ActionRequest, SLOReader, SLOStatus

__all__ = ["Outcome", "Verifier", "Watch"]


class Outcome(StrEnum):
    PENDING = "pending"
    RECOVERED = "recovered"
    REGRESSED = "regressed"
    NOT_RECOVERED = "not_recovered"


@dataclass
class Watch:
    """One executed action under verification."""

    incident_id: str
    action_id: str
    request: ActionRequest
    inverse: ActionRequest | None
    started_at: float
    keys: list[str]
    """The SLOs watched, keyed ``namespace/service`` as the reader keys them."""
    baseline_burn: dict[str, float] = field(default_factory=dict)
    met_since: float | None = None


class Verifier:
    """Judges watches against the SLO reader; see the module docstring for the rules."""

    def __init__(
        self,
        slos: SLOReader,
        *,
        hold_s: float = 120.0,
        deadline_s: float = 600.0,
        grace_s: float = 60.0,
        regression_factor: float = 1.5,
    ) -> None:
        self.slos = slos
        self.hold_s, self.deadline_s, self.grace_s = hold_s, deadline_s, grace_s
        self.regression_factor = regression_factor

    def status(self) -> Mapping[str, SLOStatus]:
        return self.slos.status()

    def watched(self, services: Sequence[str], namespace: str | None) -> list[str]:
        """The SLO keys an incident on ``services`` (in ``namespace``) is judged by."""
        status = self.status()
        own = [key for key in status if key.split("/", 1)[-1] in services]
        if own:
            return sorted(own)
        return sorted(k for k in status if namespace is None or k.split("/", 1)[0] == namespace)

    def start(
        self,
        incident_id: str,
        action_id: str,
        request: ActionRequest,
        inverse: ActionRequest | None,
        keys: list[str],
        now: float,
    ) -> Watch:
        status = self.status()
        burn = {k: status[k].burn_rate for k in keys if k in status}
        return Watch(incident_id, action_id, request, inverse, now, keys, burn)

    def check(self, watch: Watch, now: float) -> Outcome:
        status = self.status()
        current = [status[k] for k in watch.keys if k in status]
        if all(s.met for s in current):
            if watch.met_since is None:
                watch.met_since = now
            if now - watch.met_since >= self.hold_s:
                return Outcome.RECOVERED
        else:
            watch.met_since = None
        if now - watch.started_at >= self.grace_s:
            for s in current:
                key = f"{s.namespace}/{s.service}"
                before = max(watch.baseline_burn.get(key, 0.0), 1.0)
                if not s.met and s.burn_rate > self.regression_factor * before:
                    return Outcome.REGRESSED
        if now - watch.started_at >= self.deadline_s and watch.met_since is None:
            return Outcome.NOT_RECOVERED
        return Outcome.PENDING
