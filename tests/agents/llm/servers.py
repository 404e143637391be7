"""A real OpenAI-compatible server on loopback (llama-cpp-python's, with the bundled model) and
a fault-injecting proxy in front of it (slow answers, 5xx, garbage), for the cloud-tier tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from agents.llm import bundled_model_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(timeout_s: float = 120.0) -> Iterator[str]:
    """``python -m llama_cpp.server`` with the bundled model; yields its ``/v1`` base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(bundled_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
        "--interrupt_requests",
        "false",
        "--model_alias",
        "smollm2-loopback",
    ]
    # its log goes to a file: llama.cpp's model-loading output alone would fill a pipe
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"llama_cpp.server exited ({process.returncode}): {err}")
            try:
                if httpx.get(f"{base}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start in time")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Proxy:
    """Forwards to ``upstream``; ``mode``: ``pass``, ``slow``, ``500`` or ``garbage:<text>``.
    Records every request body it received."""

    upstream: str
    mode: str = "pass"
    bodies: list[dict[str, object]] = field(default_factory=list)
    url: str = ""


@contextmanager
def fault_proxy(upstream: str) -> Iterator[Proxy]:
    proxy = Proxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            proxy.bodies.append(json.loads(body or b"{}"))
            if proxy.mode == "500":
                self._send(500, {"error": {"message": "injected server error"}})
                return
            if proxy.mode == "slow":
                time.sleep(2.0)
            answer = httpx.post(
                upstream.rstrip("/") + self.path.removeprefix("/v1"),
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=60.0,
            )
            data = answer.json()
            if proxy.mode.startswith("garbage:"):
                data["choices"][0]["message"]["content"] = proxy.mode.removeprefix("garbage:")
            self._send(answer.status_code, data)

        def _send(self, status: int, data: object) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
