"""Real loopback servers for the telemetry tests: any ASGI app served by uvicorn in a thread.

:class:`ThreadedServer` runs an app on a free port of 127.0.0.1, as
:class:`testbed.runner.TestbedServer` does. :class:`Recorder` is a Starlette middleware that
records every request's path and query, to prove what the sources ask for.
:class:`FakeExporter` serves a tiny exposition whose health a test can switch (``ok``,
``error`` for a 500, ``slow`` beyond a client's timeout, ``garbage``) and counts its hits.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from testbed.runner import free_port


class ThreadedServer:
    """Serve ``app`` on 127.0.0.1 from a background thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-http", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class Recorder:
    """ASGI middleware appending ``path?query`` of every HTTP request to ``log``."""

    def __init__(self, app: ASGIApp, log: list[str]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode()
            self.log.append(scope["path"] + (f"?{query}" if query else ""))
        await self.app(scope, receive, send)


def recording(app: Starlette, log: list[str]) -> Starlette:
    """``app`` with a :class:`Recorder` in front of it."""
    app.add_middleware(Recorder, log=log)
    return app


def exposition(namespace: str, deployment: str, requests: int, replicas: int = 2) -> str:
    """A small valid exposition: one Deployment and one Istio edge into it."""
    edge = (
        f'reporter="source",source_workload="caller",destination_workload="{deployment}",'
        f'destination_workload_namespace="{namespace}"'
    )
    return (
        "# TYPE kube_deployment_spec_replicas gauge\n"
        f'kube_deployment_spec_replicas{{namespace="{namespace}",deployment="{deployment}"}}'
        f" {replicas}\n"
        "# TYPE istio_requests_total counter\n"
        f'istio_requests_total{{{edge},response_code="200"}} {requests}\n'
    )


@dataclass
class FakeExporter:
    """An exporter at ``/metrics`` whose behaviour a test switches with ``mode``."""

    namespace: str = "shop"
    deployment: str = "cart"
    mode: str = "ok"
    hits: int = 0
    delay_s: float = 1.0
    requests: list[str] = field(default_factory=list)

    async def metrics(self, request: Request) -> Response:
        self.hits += 1
        if self.mode == "error":
            return PlainTextResponse("internal error", status_code=500)
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "garbage":
            return PlainTextResponse("<html><body>not metrics</body></html>\n")
        return PlainTextResponse(exposition(self.namespace, self.deployment, 100 * self.hits))

    def routes(self, prefix: str = "") -> list[Route]:
        return [Route(f"{prefix}/metrics", self.metrics)]


def app_of(routes: list[Route], log: list[str] | None = None) -> Starlette:
    """A Starlette app of ``routes`` (and a request recorder when ``log`` is given)."""
    middleware = [Middleware(Recorder, log=log)] if log is not None else []
    return Starlette(routes=routes, middleware=middleware)
