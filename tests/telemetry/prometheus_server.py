"""A real Prometheus server for tests: the Debian package's ``prometheus`` run as a subprocess.

:class:`PrometheusServer` writes a configuration that scrapes one target (a
:class:`testbed.runner.TestbedServer` on 127.0.0.1) every second, starts ``prometheus`` on a free
port of 127.0.0.1 with its TSDB in a temporary folder, waits until ``/-/ready`` answers, and at
the end terminates it (then kills it if it lingers). Tests that need it are skipped, naming the
missing program, when ``prometheus`` is not on ``PATH`` (``scripts/bootstrap.sh`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from testbed.runner import free_port

PROGRAM = "prometheus"
SCRAPE_INTERVAL_S = 1

requires_prometheus = pytest.mark.skipif(
    shutil.which(PROGRAM) is None,
    reason=f"the '{PROGRAM}' program is not installed (apt-get install prometheus)",
)


def config_yaml(target: str, interval_s: float = SCRAPE_INTERVAL_S) -> str:
    """A configuration scraping ``target`` (``host:port``) at ``/metrics`` every ``interval_s``."""
    return (
        "global:\n"
        f"  scrape_interval: {interval_s:g}s\n"
        f"  scrape_timeout: {interval_s:g}s\n"
        f"  evaluation_interval: {interval_s:g}s\n"
        "scrape_configs:\n"
        "  - job_name: testbed\n"
        "    honor_labels: true\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )


class PrometheusServer:
    """``prometheus`` scraping ``target`` on 127.0.0.1; a context manager.

    ``honor_labels`` keeps the exposition's labels where they clash with the target's (``job``,
    ``instance``), as a federation scrape would. The server's log goes to
    ``<workdir>/prometheus.log``; its TSDB to ``<workdir>/data`` (a temporary folder by default,
    removed at :meth:`stop`).
    """

    def __init__(self, target: str, workdir: Path | None = None, ready_timeout: float = 30.0):
        self.target = target
        self.ready_timeout = ready_timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="prometheus-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> PrometheusServer:
        program = shutil.which(PROGRAM)
        if program is None:
            pytest.skip(
                f"needs the '{PROGRAM}' program (Debian package prometheus; scripts/bootstrap.sh "
                "installs it when run as root with apt-get)"
            )
        config = self.workdir / "prometheus.yml"
        config.write_text(config_yaml(self.target))
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        with (self.workdir / "prometheus.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    program,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.proc.returncode}):\n{self.log}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus not ready in {self.ready_timeout} s:\n{self.log}")
            time.sleep(0.1)

    def wait_for_samples(self, query: str, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``query`` (an instant query) returns at least ``count`` series."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5).json()
            if body.get("status") == "success" and len(body["data"]["result"]) >= count:
                return
            time.sleep(0.25)
        raise AssertionError(f"no samples for {query!r} after {timeout} s:\n{self.log}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
