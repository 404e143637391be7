"""Running a testbed: the simulation loop against a clock, and the HTTP server in a thread.

:class:`SimulationLoop` steps a cluster so that simulated time follows a
:class:`~testbed.clock.RealTimeClock` (``speed`` simulated seconds per wall second); if it falls
behind it catches up by stepping faster and reports the lag. :class:`TestbedServer` serves a
cluster's Kubernetes API on 127.0.0.1 from a background thread; tests and the evaluation harness
use it with a :class:`~testbed.clock.VirtualClock` and call ``cluster.advance()`` themselves.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn

from .clock import RealTimeClock
from .cluster import Cluster
from .server import create_app

log = logging.getLogger(__name__)


class SimulationLoop:
    """Steps ``cluster`` in a thread so that its time follows ``clock``."""

    def __init__(self, cluster: Cluster, clock: RealTimeClock) -> None:
        self.cluster = cluster
        self.clock = clock
        self.lag = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="testbed-sim", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        cluster = self.cluster
        try:
            while not self._stop.is_set():
                target = self.clock.now()
                steps = 0
                while cluster.now + cluster.tick <= target and not self._stop.is_set():
                    cluster.step()
                    steps += 1
                    if steps >= 1000:
                        break
                self.lag = max(0.0, target - cluster.now)
                wait = (cluster.now + cluster.tick - self.clock.now()) / self.clock.speed
                self._stop.wait(min(max(wait, 0.001), 0.5))
        except BaseException as exc:  # surface the failure to the owner, then stop the loop
            self.error = exc
            log.exception("simulation loop failed")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class TestbedServer:
    """Serve ``cluster`` over HTTP on ``host:port`` (0 picks a free port) in a thread."""

    __test__ = False

    def __init__(
        self,
        cluster: Cluster,
        host: str = "127.0.0.1",
        port: int = 0,
        truth_token: str | None = None,
        speed: float | None = None,
    ) -> None:
        self.cluster = cluster
        self.host = host
        self.truth_token = truth_token
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
        # without it every keep-alive response waits ~40 ms on Nagle and delayed ACKs.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            create_app(cluster, truth_token),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="testbed-http", daemon=True)
        self.loop: SimulationLoop | None = None
        if speed is not None:
            self.loop = SimulationLoop(cluster, RealTimeClock(start=cluster.now, speed=speed))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> TestbedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"testbed server did not start on {self.url}")
            time.sleep(0.01)
        if self.loop is not None:
            self.loop.start()
        return self

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> TestbedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
