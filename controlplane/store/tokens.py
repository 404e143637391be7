"""API tokens: created once (the plain token is shown to its creator and never stored), verified
by digest, revoked.

A token is ``aiops_`` followed by 32 random bytes (URL-safe base64); the table keeps its SHA-256
digest (hex) only, so a copy of the database lets no one in. :meth:`TokenRepository.verify` looks
the digest up (a unique index) and accepts a token that is neither revoked nor expired; it
records ``last_used_at`` at most once a minute, so checking a token stays a read almost always.
Creating and revoking append ``token.created`` / ``token.revoked`` audit events naming the token's
id, name and role (never the token or its digest).
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.clock import Clock
from controlplane.domain import new_id
from controlplane.exceptions import IllegalTransition, InvalidRecord, RecordNotFound
from controlplane.store._sql import for_update
from controlplane.store.audit import AuditLog
from controlplane.store.models import ApiTokenRow
from controlplane.store.records import ApiToken, Role

__all__ = [
    "LAST_USED_EVERY_S",
    "TOKEN_PREFIX",
    "TokenRepository",
    "due_for_touch",
    "token_digest",
]

TOKEN_PREFIX = "aiops_"
LAST_USED_EVERY_S = 60.0
"""``last_used_at`` is written when it is at least this old."""


def token_digest(plain: str) -> str:
    """The hex SHA-256 of a token, as stored."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def due_for_touch(token: ApiToken, now: float) -> bool:
    """Whether ``token``'s last use is older than :data:`LAST_USED_EVERY_S` (or unknown)."""
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY_S


class TokenRepository:
    """API tokens in one session's transaction."""

    def __init__(self, session: Session, clock: Clock, audit: AuditLog) -> None:
        self._session, self._clock, self._audit = session, clock, audit

    def create(
        self, name: str, role: Role | str, *, created_by: str, expires_at: float | None = None
    ) -> tuple[str, ApiToken]:
        """A new token for ``role``: the plain token (shown once, stored nowhere) and its record."""
        now = self._clock.now()
        if not name.strip():
            raise InvalidRecord("token name: must not be empty")
        if not created_by.strip():
            raise InvalidRecord("token created_by: must name who creates it")
        try:
            role = Role(role)
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidRecord(f"token role {role!r}: expected one of {allowed}") from None
        if expires_at is not None and expires_at <= now:
            raise InvalidRecord(f"token expires_at {expires_at}: not after now ({now})")
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiTokenRow(
            id=new_id(),
            name=name,
            role=str(role),
            digest=token_digest(plain),
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
        )
        self._session.add(row)
        self._session.flush()
        details = {"name": name, "role": str(role), "expires_at": expires_at}
        self._audit.append("token.created", row.id, details, actor=created_by)
        return plain, _token(row)

    def verify(self, plain: str, *, touch: bool = True) -> ApiToken | None:
        """The token ``plain`` stands for, if it is known, not revoked and not expired.

        With ``touch`` (in a write transaction) it records the use, at most once a minute;
        without, it writes nothing (a read transaction; then :meth:`touch` when due).
        """
        if not isinstance(plain, str) or not plain.startswith(TOKEN_PREFIX):
            return None
        digest = token_digest(plain)
        row = self._session.scalars(
            select(ApiTokenRow).where(ApiTokenRow.digest == digest)
        ).one_or_none()
        if row is None or not hmac.compare_digest(row.digest, digest):
            return None
        now = self._clock.now()
        token = _token(row)
        if not token.active(now):
            return None
        if touch and due_for_touch(token, now):
            row.last_used_at = now
            self._session.flush()
            token = _token(row)
        return token

    def touch(self, token_id: str) -> None:
        """Note that the token was used now: for callers that :meth:`verify` with ``touch``
        off in a read transaction and write only when :func:`due_for_touch` says so."""
        row = self._session.get(ApiTokenRow, token_id)
        if row is None:
            raise RecordNotFound("token", token_id)
        row.last_used_at = self._clock.now()
        self._session.flush()

    def revoke(self, token_id: str, by: str) -> ApiToken:
        """Revoke a token for good; revoking it again is an error naming it."""
        row = self._session.scalars(
            for_update(select(ApiTokenRow).where(ApiTokenRow.id == token_id))
        ).one_or_none()
        if row is None:
            raise RecordNotFound("token", token_id)
        if row.revoked_at is not None:
            raise IllegalTransition(
                f"token {token_id} ({row.name}, revoked at {row.revoked_at})",
                "revoked",
                "revoked",
                [],
            )
        row.revoked_at = self._clock.now()
        self._session.flush()
        self._audit.append(
            "token.revoked", token_id, {"name": row.name, "role": row.role}, actor=by
        )
        return _token(row)

    def get(self, token_id: str) -> ApiToken | None:
        row = self._session.get(ApiTokenRow, token_id)
        return None if row is None else _token(row)

    def list(self) -> builtins.list[ApiToken]:
        """Every token, revoked and expired ones included, oldest first."""
        query = select(ApiTokenRow).order_by(ApiTokenRow.created_at, ApiTokenRow.id)
        return [_token(row) for row in self._session.scalars(query)]


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
