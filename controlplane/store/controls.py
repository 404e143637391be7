"""Operator controls: pauses, silences and maintenance windows, opt-outs and dry run, as rows.

Each call adds or lifts rows (nothing is deleted: a lifted control keeps who lifted it and when)
and appends an audit event with the person as its actor: ``control.paused``,
``control.resumed``, ``control.silenced``, ``control.opt_out``, ``control.opt_in``,
``control.dry_run`` (``details.on`` says which way) and ``control.lifted``. Input is checked
before anything is written; a bad namespace, target or pattern, or a window that ends before it
starts (or is already over), raises :class:`~controlplane.exceptions.InvalidRecord`.

A maintenance window is a silence with ``maintenance`` set; it must say when it ends and
usually starts in the future. :meth:`ControlRepository.state` is what is in force at a moment
(one query), as the executor hands it to the guardrails before every action.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.domain import new_id
from controlplane.exceptions import IllegalTransition, InvalidRecord, RecordNotFound
from controlplane.store._sql import for_update
from controlplane.store.audit import AuditLog
from controlplane.store.models import ControlRow
from controlplane.store.records import Control, ControlKind, ControlState, parse_target

__all__ = ["ControlRepository"]

_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A Kubernetes namespace name (an RFC 1123 label)."""


class ControlRepository:
    """Operator controls in one session's transaction."""

    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self._session, self._clock, self._audit = session, clock, audit

    # --- setting and lifting ------------------------------------------------------------------

    def pause(
        self, namespace: str | None, *, by: str, comment: str, ends_at: float | None = None
    ) -> Control:
        """Pause every cluster-changing action in ``namespace`` (``None``: everywhere) from now
        until ``ends_at`` (``None``: until resumed)."""
        _person(by)
        if namespace is not None:
            _namespace(namespace)
        now = self._clock.now()
        if ends_at is not None and ends_at <= now:
            raise InvalidRecord(f"pause ends_at {ends_at}: not after now ({now})")
        return self._add(
            ControlKind.PAUSE, "control.paused", by, comment, now, ends_at, namespace=namespace
        )

    def resume(self, namespace: str | None, *, by: str) -> list[Control]:
        """Lift the pauses in force on ``namespace`` (``None``: the whole control plane's); the
        lifted ones (none when it was not paused: nothing is written)."""
        _person(by)
        scope = (
            ControlRow.namespace.is_(None)
            if namespace is None
            else ControlRow.namespace == namespace
        )
        rows = self._in_force(ControlKind.PAUSE, scope)
        return [self._lift(row, by, "control.resumed") for row in rows]

    def silence(
        self,
        target_pattern: str,
        *,
        by: str,
        comment: str,
        starts_at: float | None = None,
        ends_at: float | None = None,
        maintenance: bool = False,
    ) -> Control:
        """Refuse actions on the targets ``target_pattern`` matches from ``starts_at`` (``None``:
        now) until ``ends_at`` (``None``: until lifted; a maintenance window must say)."""
        _person(by)
        parse_target(target_pattern, pattern=True)
        now = self._clock.now()
        starts = now if starts_at is None else starts_at
        what = "maintenance window" if maintenance else "silence"
        if ends_at is None and maintenance:
            raise InvalidRecord(f"{what} on {target_pattern}: ends_at is required")
        if ends_at is not None and ends_at <= starts:
            raise InvalidRecord(
                f"{what} on {target_pattern}: ends_at {ends_at} is not after starts_at {starts}"
            )
        if ends_at is not None and ends_at <= now:
            raise InvalidRecord(
                f"{what} on {target_pattern}: ends_at {ends_at} is already past ({now})"
            )
        return self._add(
            ControlKind.SILENCE,
            "control.silenced",
            by,
            comment,
            starts,
            ends_at,
            target=target_pattern,
            maintenance=maintenance,
        )

    def opt_out(self, target: str, *, by: str, comment: str) -> Control:
        """Take ``target`` (``kind/namespace/name`` or ``node/NAME``, no globs) out of automated
        actions, and every action that would disrupt it, until :meth:`opt_in`."""
        _person(by)
        parse_target(target)
        now = self._clock.now()
        return self._add(
            ControlKind.OPT_OUT, "control.opt_out", by, comment, now, None, target=target
        )

    def opt_in(self, target: str, *, by: str) -> list[Control]:
        """Lift the opt-outs of ``target``; the lifted ones (none: nothing is written)."""
        _person(by)
        parse_target(target)
        rows = self._in_force(ControlKind.OPT_OUT, ControlRow.target == target)
        return [self._lift(row, by, "control.opt_in") for row in rows]

    def set_dry_run(self, on: bool, *, by: str, comment: str = "") -> list[Control]:
        """Turn the control plane's dry run on (the new control) or off (the lifted ones; none
        when it was off, and nothing is written)."""
        _person(by)
        if on:
            now = self._clock.now()
            return [self._add(ControlKind.DRY_RUN, "control.dry_run", by, comment, now, None)]
        rows = self._in_force(ControlKind.DRY_RUN)
        return [self._lift(row, by, "control.dry_run") for row in rows]

    def lift(self, control_id: str, *, by: str) -> Control:
        """Lift one control (of any kind) now; lifting it twice is an error naming it."""
        _person(by)
        row = self._session.scalars(
            for_update(select(ControlRow).where(ControlRow.id == control_id))
        ).one_or_none()
        if row is None:
            raise RecordNotFound("control", control_id)
        if row.lifted_at is not None:
            raise IllegalTransition(
                f"control {control_id} ({row.kind}, lifted by {row.lifted_by} at {row.lifted_at})",
                "lifted",
                "lifted",
                [],
            )
        return self._lift(row, by, "control.lifted")

    # --- reading ------------------------------------------------------------------------------

    def get(self, control_id: str) -> Control | None:
        row = self._session.get(ControlRow, control_id)
        return None if row is None else _control(row)

    def state(self, now: float | None = None) -> ControlState:
        """What is in force at ``now`` (default: the clock's now)."""
        at = self._clock.now() if now is None else now
        return ControlState.of(self.list(active_only=True, now=at), at)

    def list(self, active_only: bool = False, now: float | None = None) -> builtins.list[Control]:
        """Controls, oldest first: all of them, or those in force at ``now`` (default: the
        clock's now)."""
        query = select(ControlRow).order_by(ControlRow.created_at, ControlRow.id)
        if active_only:
            at = self._clock.now() if now is None else now
            query = query.where(
                ControlRow.lifted_at.is_(None),
                ControlRow.starts_at <= at,
                or_(ControlRow.ends_at.is_(None), ControlRow.ends_at > at),
            )
        return [_control(row) for row in self._session.scalars(query)]

    # --- helpers ------------------------------------------------------------------------------

    def _add(
        self,
        kind: ControlKind,
        event: str,
        by: str,
        comment: str,
        starts_at: float,
        ends_at: float | None,
        **scope: Any,
    ) -> Control:
        row = ControlRow(
            id=new_id(),
            kind=str(kind),
            starts_at=starts_at,
            ends_at=ends_at,
            comment=comment,
            created_by=by,
            created_at=self._clock.now(),
            **{"maintenance": False, **scope},
        )
        self._session.add(row)
        self._session.flush()
        control = _control(row)
        self._audit.append(event, control.id, _details(control), actor=by)
        return control

    def _in_force(self, kind: ControlKind, *where: Any) -> builtins.list[ControlRow]:
        """The rows of ``kind`` not lifted and not ended (a pending one included), locked."""
        now = self._clock.now()
        query = (
            select(ControlRow)
            .where(
                ControlRow.kind == str(kind),
                ControlRow.lifted_at.is_(None),
                or_(ControlRow.ends_at.is_(None), ControlRow.ends_at > now),
                *where,
            )
            .order_by(ControlRow.created_at, ControlRow.id)
        )
        return builtins.list(self._session.scalars(for_update(query)))

    def _lift(self, row: ControlRow, by: str, event: str) -> Control:
        row.lifted_at, row.lifted_by = self._clock.now(), by
        self._session.flush()
        control = _control(row)
        self._audit.append(event, control.id, _details(control), actor=by)
        return control


def _person(by: str) -> None:
    if not isinstance(by, str) or not by.strip():
        raise InvalidRecord("control: 'by' must name who sets or lifts it")


def _namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise InvalidRecord(
            f"namespace {namespace!r}: expected a Kubernetes namespace name (lower-case letters, "
            "digits and '-', at most 63)"
        )


def _details(control: Control) -> dict[str, Any]:
    details: dict[str, Any] = control.model_dump(
        include={"kind", "namespace", "target", "maintenance", "starts_at", "ends_at", "comment"},
        mode="json",
    )
    if control.kind is ControlKind.DRY_RUN:
        details["on"] = control.lifted_at is None
    return details


def _control(row: ControlRow) -> Control:
    return Control(
        id=row.id,
        kind=ControlKind(row.kind),
        namespace=row.namespace,
        target=row.target,
        maintenance=row.maintenance,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        comment=row.comment,
        created_by=row.created_by,
        created_at=row.created_at,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
    )
