"""Opaque keyset cursors: ``(time, id)`` of the last item of a page, base64url JSON."""

from __future__ import annotations

import base64
import binascii
import json
import math

from fastapi import HTTPException

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(at: float, last_id: str) -> str:
    raw = json.dumps([at, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[float, str] | None:
    """The cursor's ``(time, id)``; 422 naming the parameter when it is not one of ours."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, last_id = json.loads(raw)
        if not isinstance(last_id, str) or isinstance(at, bool) or not math.isfinite(at):
            raise ValueError(cursor)
        return float(at), last_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise HTTPException(422, "cursor: not a cursor this API returned") from exc
