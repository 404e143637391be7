"""What the simulated containers write to their logs.

Lines read like those of the real programs (a Go HTTP service logging in logfmt, memcached,
MongoDB's JSON log). They describe symptoms only: connection errors, timeouts, rejected
requests. Nothing in a log line names a fault.
"""

from __future__ import annotations

import json

from .clock import iso, iso_micro


def startup_lines(
    kind: str, name: str, image: str, port: int, deps: list[str], t: float
) -> list[str]:
    version = image.rsplit(":", 1)[-1] if ":" in image else "latest"
    if kind == "cache":
        return [
            f"memcached {version} starting: -m 64 -c 1024 -t 4 -p {port}",
            "slab class   1: chunk size        96 perslab   10922",
            f"server listening (tcp) on port {port}",
        ]
    if kind == "database":
        return [
            _mongo(t, "I", "CONTROL", "MongoDB starting", {"port": port, "version": version}),
            _mongo(t, "I", "STORAGE", "WiredTiger opened", {"durationMillis": 412}),
            _mongo(t, "I", "NETWORK", "Waiting for connections", {"port": port, "ssl": "off"}),
        ]
    lines = [f'ts={iso(t)} level=info msg="starting {name}" version={version}']
    for dep in deps:
        lines.append(f'ts={iso(t)} level=info msg="dialing dependency" target={dep}')
    lines.append(f'ts={iso(t)} level=info msg="server listening" addr=:{port}')
    return lines


def _mongo(
    t: float,
    sev: str,
    comp: str,
    msg: str,
    attr: dict[str, object],
    id_: int = 22943,
    ctx: str = "listener",
) -> str:
    return json.dumps(
        {
            "t": {"$date": iso_micro(t)},
            "s": sev,
            "c": comp,
            "id": id_,
            "ctx": ctx,
            "msg": msg,
            "attr": attr,
        },
        separators=(",", ":"),
    )


def error_line(
    kind: str,
    t: float,
    dependency: str | None,
    code: int,
    latency_ms: float,
    detail: str | None = None,
) -> str:
    """A line about a failed request: what an operator would see in the pod's log.

    ``detail`` replaces the generic error text (an application's own panic message, a
    dependency's authentication error).
    """
    if kind == "database":
        return _mongo(t, "W", "COMMAND", "Slow query", {"durationMillis": int(latency_ms)})
    if kind == "cache":
        return f"<{int(t) % 1000} connection closed: server busy ({int(latency_ms)} ms)"
    if dependency is None:
        if code == 503:
            return (
                f'ts={iso(t)} level=warn msg="rejecting request: worker pool exhausted" '
                f"code=503 latency_ms={latency_ms:.0f}"
            )
        err = f" err={json.dumps(detail)}" if detail else ""
        return (
            f'ts={iso(t)} level=error msg="request failed" code={code} '
            f"latency_ms={latency_ms:.0f}{err}"
        )
    if code == 504:
        return (
            f'ts={iso(t)} level=warn msg="upstream request timeout" upstream={dependency} '
            f"elapsed_ms={latency_ms:.0f}"
        )
    if code == 503:
        return (
            f'ts={iso(t)} level=error msg="upstream connect error or disconnect/reset before '
            f'headers. reset reason: connection failure" upstream={dependency} code=503'
        )
    err = json.dumps(detail) if detail else '"rpc error: code = Unavailable"'
    return (
        f'ts={iso(t)} level=error msg="request failed" upstream={dependency} code={code} err={err}'
    )


def periodic_line(kind: str, t: float, rps: float, latency_ms: float) -> str:
    """An occasional healthy line (stats) so logs are not empty on a quiet service."""
    if kind == "database":
        return _mongo(t, "I", "NETWORK", "Connection accepted", {"connectionCount": 12})
    if kind == "cache":
        return f"stats: curr_connections 10 get_hits {int(rps * 60)} get_misses {int(rps * 3)}"
    return (
        f'ts={iso(t)} level=info msg="request stats" window=60s rps={rps:.1f} '
        f"p50_ms={latency_ms:.1f}"
    )


def auth_failed_line(kind: str, t: float) -> str:
    """A database refusing a client's credentials."""
    if kind == "database":
        return _mongo(
            t,
            "I",
            "ACCESS",
            "Authentication failed",
            {
                "mechanism": "SCRAM-SHA-256",
                "speculative": False,
                "principalName": "app",
                "authenticationDatabase": "admin",
                "error": "AuthenticationFailed: SCRAM authentication failed, storedKey mismatch",
            },
        )
    return (
        f'ts={iso(t)} level=warn msg="authentication failed" '
        f'err="invalid credentials presented by client"'
    )


#: how many distinct harmless lines :func:`harmless_line` writes per kind of container
HARMLESS_VARIANTS = 6


def harmless_line(kind: str, t: float, variant: int, number: int, peer: str | None) -> str:
    """A warning or error of the kind healthy services log now and then, unrelated to requests.

    ``variant`` picks the line (modulo :data:`HARMLESS_VARIANTS`), ``number`` fills in its
    figures (a pause, a connection id), ``peer`` names a dependency for a retried call.
    """
    v = variant % HARMLESS_VARIANTS
    if kind == "database":
        conn = f"conn{number % 90 + 10}"
        if v in (0, 1):
            error = {"code": 6, "codeName": "HostUnreachable", "errmsg": "Connection reset by peer"}
            return _mongo(
                t,
                "W",
                "NETWORK",
                "Failed to check socket connectivity",
                {"error": error},
                4615610,
                conn,
            )
        if v in (2, 3):
            attr: dict[str, object] = {"opId": 1000 + number, "reason": "client disconnected"}
            return _mongo(
                t,
                "I",
                "COMMAND",
                "Interrupted operation as its client disconnected",
                attr,
                20883,
                conn,
            )
        return _mongo(
            t,
            "I",
            "COMMAND",
            "Slow query",
            {"type": "command", "ns": "admin.$cmd", "durationMillis": 100 + number % 60},
            51803,
            conn,
        )
    if kind == "cache":
        fd = number % 40 + 20
        return [
            f"<{fd} new auto-negotiating client connection",
            f"<{fd} connection closed.",
            f"slab rebalancer: moved 1 page from class {number % 8 + 2} to class {number % 5 + 11}",
            f"LRU crawler: reclaimed {number % 90 + 5} expired items from class {number % 12 + 1}",
            f"<{fd} new auto-negotiating client connection",
            f"<{fd} connection closed.",
        ][v]
    ts = f"ts={iso(t)}"
    if v == 0:
        return (
            f'{ts} level=error msg="failed to refresh service discovery cache" '
            'err="context canceled"'
        )
    if v == 1:
        return f'{ts} level=warn msg="slow GC pause" pause_ms={number % 40 + 12}'
    if v == 2:
        return (
            f'{ts} level=error msg="failed to export spans" exporter=otlp '
            f'err="rpc error: code = DeadlineExceeded desc = context deadline exceeded"'
        )
    if v == 3:
        return f'{ts} level=warn msg="client closed connection before the response was written"'
    if v == 4 and peer is not None:
        return (
            f'{ts} level=warn msg="retrying request" upstream={peer} attempt=2 '
            f'err="read: connection reset by peer"'
        )
    return (
        f'{ts} level=error msg="http: TLS handshake error" '
        f"remote=10.{number % 4 + 64}.{number % 200}.{number % 250 + 2}:{40000 + number % 20000} "
        f'err="tls: client offered only unsupported versions"'
    )
