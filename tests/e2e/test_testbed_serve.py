"""``aiops testbed serve`` as a real process: it serves the API, reports status, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from testbed.runner import free_port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()  # type: ignore[no-any-return]


def test_serve_runs_the_testbed_under_live_load(tmp_path: Path) -> None:
    port = free_port()
    token_file = tmp_path / "token"
    cmd = [
        sys.executable,
        "-m",
        "controlplane.cli",
        "testbed",
        "serve",
        "--port",
        str(port),
        "--speed",
        "30",
        "--status-every",
        "0.5",
        "--truth-token-file",
        str(token_file),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        time.sleep(2.0)  # about a simulated minute at speed 30: pods become Ready
        pods = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/namespaces/hotel/pods"))
        assert len(pods["items"]) == 16
        assert any(p["status"]["phase"] == "Running" for p in pods["items"])
        assert b"kube_pod_status_phase" in _get(f"http://127.0.0.1:{port}/metrics")
        token = token_file.read_text().strip()
        assert len(token) >= 32 and (token_file.stat().st_mode & 0o777) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "serving the Kubernetes API" in out
    assert "pods 16/16 ready" in out
    assert "testbed: stopped" in out
