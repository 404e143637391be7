"""``/controls``: pause and resume (everything or one namespace), silences and maintenance
windows, per-workload opt-out, and the run-time dry-run switch. Reading them needs ``viewer``;
changing them needs ``admin``. Every change is an audit event naming the token.

They take effect at the executor's next guard, in whichever process leads: an action a control
stops is refused by the rule of that control (``pause``, ``namespace_pause``, ``silence``,
``opt_out``) or recorded as a dry run.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from api.auth import Caller, admin, viewer
from api.schemas import (
    ERRORS,
    ControlsView,
    DryRunSwitch,
    OptOutRequest,
    PauseRequest,
    ResumeRequest,
    SilenceRequest,
)
from controlplane.store import Control, Store

__all__ = ["router"]

router = APIRouter(prefix="/controls", tags=["controls"], responses=ERRORS)

Id = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


@router.get(
    "",
    summary="The controls in force now, and every one not lifted or ended (planned windows too).",
)
def list_controls(request: Request, _: Annotated[Caller, Depends(viewer)]) -> ControlsView:
    store = _store(request)
    now = store.clock.now()
    with store.read() as tx:
        standing = [
            c
            for c in tx.controls.list()
            if c.lifted_at is None and (c.ends_at is None or c.ends_at > now)
        ]
        return ControlsView(state=tx.controls.state(now), controls=standing)


@router.post("/pause", status_code=201, summary="Pause every action, or one namespace's.")
def pause(
    request: Request, body: PauseRequest, caller: Annotated[Caller, Depends(admin)]
) -> Control:
    with _store(request).write() as tx:
        return tx.controls.pause(
            body.namespace, by=caller.name, comment=body.comment, ends_at=body.ends_at
        )


@router.post("/resume", summary="Lift the pause of everything, or of one namespace.")
def resume(
    request: Request, body: ResumeRequest, caller: Annotated[Caller, Depends(admin)]
) -> list[Control]:
    with _store(request).write() as tx:
        return tx.controls.resume(body.namespace, by=caller.name)


@router.post("/silences", status_code=201, summary="Silence targets, or plan a maintenance window.")
def silence(
    request: Request, body: SilenceRequest, caller: Annotated[Caller, Depends(admin)]
) -> Control:
    store = _store(request)
    with store.write() as tx:
        return tx.controls.silence(
            body.target,
            by=caller.name,
            comment=body.comment,
            starts_at=store.clock.now() if body.starts_at is None else body.starts_at,
            ends_at=body.ends_at,
            maintenance=body.maintenance,
        )


@router.post("/opt-outs", status_code=201, summary="Keep the control plane's hands off a target.")
def opt_out(
    request: Request, body: OptOutRequest, caller: Annotated[Caller, Depends(admin)]
) -> Control:
    with _store(request).write() as tx:
        return tx.controls.opt_out(body.target, by=caller.name, comment=body.comment)


@router.post("/dry-run", status_code=201, summary="Switch acting to dry-run (or back).")
def dry_run(
    request: Request, body: DryRunSwitch, caller: Annotated[Caller, Depends(admin)]
) -> list[Control]:
    with _store(request).write() as tx:
        return tx.controls.set_dry_run(body.on, by=caller.name, comment=body.comment)


@router.delete("/{control_id}", summary="Lift one control.")
def lift(request: Request, control_id: Id, caller: Annotated[Caller, Depends(admin)]) -> Control:
    with _store(request).write() as tx:
        return tx.controls.lift(control_id, by=caller.name)
