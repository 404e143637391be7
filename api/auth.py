"""Bearer-token auth: every route names the least role it needs.

Tokens are random (``aiops token create``) and the database keeps only their SHA-256 digests
(:class:`~controlplane.store.TokenRepository`). A request without a token gets 401; with a
token that is unknown, revoked or expired, 401; with a valid token whose role is too weak, 403.
There is no default token: an empty token table accepts nobody.

Roles are ordered ``viewer < operator < admin``: reads need ``viewer``, anything that changes
the cluster (approve, reject, act, acknowledge, resolve) needs ``operator``, the controls and
the policy need ``admin``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from controlplane.store import ApiToken, Role, Store
from controlplane.store.tokens import due_for_touch, token_digest

__all__ = ["Caller", "TokenCache", "admin", "operator", "require", "viewer"]

_bearer = HTTPBearer(auto_error=False, description="A token from `aiops token create`.")

Caller = ApiToken
"""Who is calling: the token's record (its name is the actor in the audit trail)."""


class TokenCache:
    """Tokens verified in the last ``ttl_s`` seconds, by digest, so a busy client's requests do
    not each cost a database transaction. A revoked token stops working within ``ttl_s``; an
    expired one at once (its expiry is checked on every request)."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[ApiToken, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str, now: float) -> ApiToken | None:
        with self._lock:
            hit = self._tokens.get(digest)
        if hit is None or time.monotonic() - hit[1] > self.ttl_s or not hit[0].active(now):
            return None
        return hit[0]

    def put(self, digest: str, token: ApiToken) -> None:
        with self._lock:
            if len(self._tokens) > 10_000:  # bounded: forget everything rather than grow
                self._tokens.clear()
            self._tokens[digest] = (token, time.monotonic())


async def _verify(request: Request, plain: str) -> ApiToken | None:
    ctx = request.app.state.ctx
    store = ctx.store
    now = store.clock.now()
    digest = token_digest(plain)
    token: ApiToken | None = ctx.tokens.get(digest, now)
    if token is None:
        # a read transaction (concurrent requests do not queue behind SQLite's one writer)
        with store.read() as tx:
            token = tx.tokens.verify(plain, touch=False)
        if token is None:
            return None
    if due_for_touch(token, now):
        # the last use, noted at most once a minute, in a worker thread: a write waits for
        # the disk, and the event loop serves the other requests meanwhile
        await run_in_threadpool(_touch, store, token.id)
        token = token.model_copy(update={"last_used_at": now})
    ctx.tokens.put(digest, token)
    return token


def _touch(store: Store, token_id: str) -> None:
    with store.write() as tx:
        tx.tokens.touch(token_id)


def require(role: Role) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency that admits tokens of ``role`` or stronger."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        # on the event loop: a cache hit costs microseconds, a miss one indexed read
        token = await _verify(request, credentials.credentials)
        if token is None:
            raise HTTPException(
                401,
                "the token is unknown, revoked or expired",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not Role(token.role).allows(role):
            raise HTTPException(403, f"this needs the {role} role; the token has {token.role}")
        return token

    check.__name__ = f"require_{role}"
    return check


viewer = require(Role.VIEWER)
operator = require(Role.OPERATOR)
admin = require(Role.ADMIN)
