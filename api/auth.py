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

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.store import ApiToken, Role
from controlplane.store.tokens import due_for_touch

__all__ = ["Caller", "admin", "operator", "require", "viewer"]

_bearer = HTTPBearer(auto_error=False, description="A token from `aiops token create`.")

Caller = ApiToken
"""Who is calling: the token's record (its name is the actor in the audit trail)."""


def require(role: Role) -> Callable[..., ApiToken]:
    """A dependency that admits tokens of ``role`` or stronger."""

    def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None or not credentials.credentials:
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        store = request.app.state.ctx.store
        # verified in a read transaction (concurrent requests do not queue behind SQLite's one
        # writer); the last use is noted in a write of its own, at most once a minute
        with store.read() as tx:
            token = tx.tokens.verify(credentials.credentials, touch=False)
        if token is not None and due_for_touch(token, store.clock.now()):
            with store.write() as tx:
                tx.tokens.touch(token.id)
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
