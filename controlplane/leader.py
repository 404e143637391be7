"""Leader election: of several control-plane processes on one database, exactly one acts.

Each process calls :meth:`LeaderElection.tick` once per loop tick. The lease (a row of the
``leases`` table) names its holder and expires ``ttl_s`` after the holder's last renewal::

    election = LeaderElection(store, process_holder(), ttl_s=15.0)
    while running:
        epoch = election.tick()          # renew, take over, or None: someone else leads
        if epoch is not None:
            executor.submit(request, epoch)   # every fenced write carries the epoch
        clock.sleep(tick_s)
    election.release()                   # at shutdown: a successor takes over at once

**Taking the lease advances the fencing epoch in the same transaction**
(:meth:`~controlplane.store.Fencing.advance`), so every write of a deposed leader that carries
its epoch is refused (``StaleEpoch``) from the moment a successor holds the lease.

**Deposition margin.** A leader counts itself deposed :data:`DEPOSITION_MARGIN` of the TTL
before its lease expires (``renewed_at + ttl_s * 0.8`` by its own clock; ``renewed_at`` is read
once the lease row is locked), so one that cannot renew (database unreachable, process paused)
stops acting before another can take over. :attr:`LeaderElection.epoch` and
:attr:`LeaderElection.is_leader` say so without a database call; when :meth:`tick` raises
(``StoreError``), they stay true until that deadline. The margin also absorbs clock skew
between hosts: keep it below ``0.2 * ttl_s``.

**Takeover time.** A dead leader's lease expires at most ``ttl_s`` after its last renewal, and a
survivor that ticks every ``tick_s`` takes it at its first tick after that: within
``ttl_s + tick_s`` of the death (plus one transaction). A leader that shuts down cleanly
releases it, and the survivor takes over at its next tick (:func:`takeover_bound_s`). Tick
well inside the margin (``tick_s <= ttl_s / 3``, :func:`ttl_for_tick`) so that a live leader
renews before it counts itself deposed; a leader that ticks less often than
``ttl_s * (1 - margin)`` loses the lead between ticks and takes a new epoch at each one.

Audit events (subject: the lease name, actor: the holder): ``lease.acquired`` (a free or
released lease), ``lease.taken_over`` (from an expired holder, naming it and its epoch),
``lease.released``, ``lease.fenced`` (the holder's epoch was superseded by an
``advance_epoch`` outside the election: it gives the lease up). Renewals are not audited.
"""

from __future__ import annotations

import logging
import os
import socket
from uuid import uuid4

from controlplane.clock import Clock
from controlplane.store import DEFAULT_LEASE, Lease, Store, Transaction

__all__ = [
    "DEFAULT_TTL_S",
    "DEPOSITION_MARGIN",
    "LeaderElection",
    "process_holder",
    "takeover_bound_s",
    "ttl_for_tick",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 15.0
"""How long a lease lasts after its last renewal."""
DEPOSITION_MARGIN = 0.2
"""The share of the TTL before expiry at which a leader stops counting itself leader."""


def ttl_for_tick(tick_s: float) -> float:
    """A TTL that a leader ticking every ``tick_s`` renews three times per lease, so one slow
    tick does not cost it the lead (it must tick within ``ttl_s * (1 - margin)``)."""
    return max(DEFAULT_TTL_S, 3 * tick_s)


def takeover_bound_s(ttl_s: float, tick_s: float) -> float:
    """How long after a leader dies a survivor ticking every ``tick_s`` holds the lease
    (plus one transaction): the dead leader's lease expires within ``ttl_s``, and the survivor
    takes it at its first tick after that."""
    return ttl_s + tick_s


def process_holder() -> str:
    """A holder name unique to this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"


class LeaderElection:
    """One process's view of lease ``name``: take it, renew it, give it up.

    Not thread-safe: call it from the loop's thread. ``clock`` defaults to the store's; every
    process on the lease must use the same kind of clock (wall-clock time, or one manual clock
    in tests).
    """

    def __init__(
        self,
        store: Store,
        holder: str,
        *,
        name: str = DEFAULT_LEASE,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Clock | None = None,
        margin: float = DEPOSITION_MARGIN,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, not {ttl_s}")
        if not 0 < margin < 1:
            raise ValueError(f"margin must be between 0 and 1 (a share of the TTL), not {margin}")
        if not holder:
            raise ValueError("holder must name the process")
        self.store, self.holder, self.name = store, holder, name
        self.ttl_s, self.margin = ttl_s, margin
        self.clock: Clock = clock or store.clock
        self._epoch: int | None = None
        self._until: float | None = None

    # --- what this process may do now --------------------------------------------------------

    @property
    def leader_until(self) -> float | None:
        """When this process stops counting itself leader (by its clock), if it leads."""
        return self._until

    @property
    def is_leader(self) -> bool:
        """Leader as of the last tick, and that tick's renewal not yet past the margin."""
        return self._until is not None and self.clock.now() < self._until

    @property
    def epoch(self) -> int | None:
        """The fencing epoch to carry on every write while :attr:`is_leader`; else ``None``."""
        return self._epoch if self.is_leader else None

    # --- the election ----------------------------------------------------------------------------

    def tick(self) -> int | None:
        """Renew or take the lease in one transaction; the epoch while leader, else ``None``."""
        was_leader = self.is_leader
        with self.store.write() as tx:
            current = tx.leases.get(self.name, lock=True)
            now = self.clock.now()  # read with the lease row held: no one moves it meanwhile
            epoch, taken = self._decide(tx, current, now)
        if epoch is None:
            self._epoch = self._until = None
            if was_leader:
                log.warning("lost lease %s", self.name, extra={"holder": self.holder})
            return None
        if taken is not None:
            log.info("lease %s %s: now epoch %d", self.name, taken, epoch)
        self._epoch, self._until = epoch, now + self.ttl_s * (1 - self.margin)
        return self.epoch  # None when the transaction outlasted the margin

    def release(self) -> bool:
        """Give the lease up (it expires now) if this process holds it; whether it did.

        This process stops counting itself leader even when the database cannot be reached.
        """
        self._epoch = self._until = None
        with self.store.write() as tx:
            current = tx.leases.get(self.name, lock=True)
            now = self.clock.now()
            if current is None or current.holder != self.holder or current.expired(now):
                return False
            tx.leases.put(current.model_copy(update={"renewed_at": now, "expires_at": now}))
            tx.audit.append(
                "lease.released", self.name, {"epoch": current.epoch}, actor=self.holder
            )
        log.info("released lease %s (epoch %d)", self.name, current.epoch)
        return True

    def _decide(
        self, tx: Transaction, current: Lease | None, now: float
    ) -> tuple[int | None, str | None]:
        """The epoch this process leads under (or ``None``) and how it got the lease now."""
        if current is None or current.expired(now):
            return self._take(tx, current, now)
        if current.holder != self.holder:
            return None, None
        if tx.fencing.current(self.name) != current.epoch:
            # Someone advanced the epoch outside the election: this holder's writes are refused
            # already. Give the lease up; the next tick may take it with a new epoch.
            tx.leases.put(current.model_copy(update={"renewed_at": now, "expires_at": now}))
            tx.audit.append("lease.fenced", self.name, {"epoch": current.epoch}, actor=self.holder)
            return None, None
        tx.leases.put(
            current.model_copy(update={"renewed_at": now, "expires_at": now + self.ttl_s})
        )
        return current.epoch, None

    def _take(
        self, tx: Transaction, current: Lease | None, now: float
    ) -> tuple[int | None, str | None]:
        lease = Lease(
            name=self.name,
            holder=self.holder,
            epoch=0,  # set below, once this transaction owns the row
            acquired_at=now,
            renewed_at=now,
            expires_at=now + self.ttl_s,
        )
        if current is None and not tx.leases.create(lease):
            return None, None  # another process created it meanwhile (and committed): it leads
        epoch = tx.fencing.advance(self.name)
        tx.leases.put(lease.model_copy(update={"epoch": epoch}))
        details: dict[str, object] = {"epoch": epoch, "ttl_s": self.ttl_s}
        if current is not None:
            details |= {"previous_holder": current.holder, "previous_epoch": current.epoch}
        if current is None or current.released:
            tx.audit.append("lease.acquired", self.name, details, actor=self.holder)
            return epoch, "acquired"
        details["expired_at"] = current.expires_at
        tx.audit.append("lease.taken_over", self.name, details, actor=self.holder)
        return epoch, f"took over from {current.holder} (epoch {current.epoch})"
