"""``/chat``: ask the control plane in plain words; the answer streams as server-sent events.

Each frame is ``event: <step|text|cite|error|done>`` and ``data: <one JSON object>``
(:class:`agents.chat.ChatEvent`). Any token may ask (``viewer``); the agent checks the token's
role before a change (``operator`` to scale or restart, ``admin`` to pause or resume), and a
change goes through the guardrails and the store as ``POST /actions`` does. The agent's work
(a model call, store reads) blocks, so it runs in the thread pool, one event at a time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from api.auth import Caller, viewer
from api.schemas import ERRORS, ChatRequest
from controlplane.store import Role

if TYPE_CHECKING:
    from agents.chat import ChatEvent

__all__ = ["frame", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["chat"], responses=ERRORS)


def frame(event: str, data: object) -> str:
    """One server-sent event (the JSON is one line: ``json.dumps`` escapes newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _frames(events: Iterator[ChatEvent]) -> Iterator[str]:
    try:
        for event in events:
            yield frame(event.event, event.data)
    except Exception:  # any failure: the status line is sent, so say so in the stream and end
        log.exception("chat: the answer failed")
        yield frame("error", {"message": "the answer failed; see the API's log"})
        yield frame("done", {"status": "error"})


@router.post(
    "/chat",
    summary="Ask in plain words; the answer streams as server-sent events.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "step, text, cite, done"},
        503: {"description": "this API process has no chat agent"},
    },
)
def chat(
    request: Request, body: ChatRequest, caller: Annotated[Caller, Depends(viewer)]
) -> StreamingResponse:
    agent = request.app.state.ctx.chat
    if agent is None:
        raise HTTPException(
            503, "this API process has no chat agent (serve it with `aiops api --cluster`)"
        )
    events = agent.answer(body.message, caller=caller.name, role=Role(caller.role))
    return StreamingResponse(
        iterate_in_threadpool(_frames(events)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
