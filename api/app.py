"""The FastAPI application: :func:`create_app` wires the routes to one store (and, for dry
runs and chat, to the cluster through an executor).

The API changes the cluster only by writing to the database: an action an operator asks for is
claimed there, and the leading loop's executor guards and runs it on its next tick (exactly as
the loop's own decisions, under the same guardrails, approvals and fencing). Approving or
rejecting writes the decision; the leader resumes the paused run. So any API process can serve
any request, whichever process leads.

Errors are JSON ``{"detail": reason}``: 401/403 from :mod:`api.auth`, 404 for an unknown id,
409 for a move the state machine forbids or a decision already made, 413 for a body over
``max_body_bytes``, 422 for a malformed request (the field named), 503 when the database or
the cluster cannot be reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actions import Executor
from api.auth import TokenCache
from api.metrics import StoreCollector, render
from api.schemas import ERRORS
from controlplane.exceptions import (
    ActionError,
    ActionRejected,
    AIOpsError,
    IllegalTransition,
    InvalidRecord,
    RecordNotFound,
    StoreError,
)
from controlplane.settings import Settings
from controlplane.store import Store, head_revision
from controlplane.store.migrate import current_revision

__all__ = ["MAX_BODY_BYTES", "ApiContext", "create_app"]

MAX_BODY_BYTES = 256 * 1024
"""The largest request body accepted (an Alertmanager batch of a few hundred alerts fits)."""

CONSOLE = Path(__file__).parent / "console"


@dataclass
class ApiContext:
    """What every route reaches through ``request.app.state.ctx``."""

    store: Store
    settings: Settings
    executor: Executor | None = None
    """Observes the cluster for dry runs and chat; ``None``: those routes answer 503."""
    chat: Any = None
    """The operator chat agent (:class:`agents.chat.ChatAgent`); ``None``: /chat answers 503."""
    metrics: StoreCollector = field(init=False)
    tokens: TokenCache = field(default_factory=TokenCache)
    """Recently verified tokens (a revocation takes effect within its ``ttl_s``)."""

    def __post_init__(self) -> None:
        self.metrics = StoreCollector(self.store)


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, whether or not they say their
    length up front: the body is read (at most ``limit`` bytes of it) before the route runs,
    so a route never sees half a body and nothing is written for a refused one."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._too_large(scope, send)
                return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._too_large(scope, send)
                return
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        await self.app(scope, _replay([whole], then=receive), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"the request body is over {self.limit} bytes"}, status_code=413
        )
        await response(scope, _replay([]), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``messages`` first, then defers to ``then`` (a disconnect
    when there is none)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def _error(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    executor: Executor | None = None,
    chat: Any = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The API over ``store`` (default: ``settings.database_url``, migrated)."""
    from api.routes import actions, alerts, controls, incidents
    from api.routes import chat as chat_routes

    store = store or Store.open(settings.database_url, actor="api")
    app = FastAPI(
        title="AIOps control plane",
        version="1",
        description="Incidents, actions and approvals, operator controls, alert intake and "
        "chat. Every route but /healthz, /readyz, the console page and this document needs "
        "a bearer token (`aiops token create`).",
    )
    app.state.ctx = ApiContext(store=store, settings=settings, executor=executor, chat=chat)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_exception_handler(RecordNotFound, _error(404))
    app.add_exception_handler(IllegalTransition, _error(409))
    app.add_exception_handler(InvalidRecord, _error(422))
    app.add_exception_handler(ActionRejected, _error(422))
    app.add_exception_handler(StoreError, _error(409))
    app.add_exception_handler(ActionError, _error(503))
    app.add_exception_handler(AIOpsError, _error(503))
    for router in (
        incidents.router,
        actions.router,
        controls.router,
        alerts.router,
        chat_routes.router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["health"], summary="The process is up.")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The database answers and its schema is current.",
        responses={503: {"description": "not ready, with the reason"}},
    )
    def readyz() -> JSONResponse:
        try:
            revision = current_revision(store.engine)
        except Exception as exc:
            return JSONResponse({"status": "unready", "reason": str(exc)[:500]}, 503)
        if revision != head_revision():
            reason = f"schema at {revision}, expected {head_revision()} (run `aiops db upgrade`)"
            return JSONResponse({"status": "unready", "reason": reason}, 503)
        return JSONResponse({"status": "ready", "schema": revision})

    from fastapi import Depends

    from api.auth import viewer

    @app.get(
        "/metrics",
        tags=["health"],
        summary="The control plane's own metrics (Prometheus text format).",
        dependencies=[Depends(viewer)],
        response_class=Response,
        responses={code: ERRORS[code] for code in (401, 403, 503)},
    )
    def metrics() -> Response:
        return Response(render(app.state.ctx.metrics), media_type="text/plain; version=0.0.4")

    @app.get("/", include_in_schema=False)
    def console() -> FileResponse:
        return FileResponse(CONSOLE / "index.html", media_type="text/html")

    @app.get("/console/{name}", include_in_schema=False)
    def console_asset(name: str) -> FileResponse:
        assets = {"app.js": "text/javascript", "style.css": "text/css"}
        if name not in assets:
            raise RecordNotFound("console file", name)
        return FileResponse(CONSOLE / name, media_type=assets[name])

    return app
