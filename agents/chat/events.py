"""What the chat agent streams: :class:`ChatEvent` frames, and the :class:`Answer` they come from.

An answer is text with citations woven in. A citation is made from a record the answer's tools
read from the store (an incident, an action, a decision, a signal, a control, a signal's metric
value), never from a string: so an answer cannot cite an id that was not read while answering.
Each citation appears in the text as ``[kind:id]`` and is also sent as a ``cite`` event.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from controlplane import Decision, Evidence, Incident, Signal
from controlplane.store import ActionRecord, Control

__all__ = ["CHUNK", "Answer", "ChatEvent", "Citation", "EventKind"]

EventKind = Literal["step", "text", "cite", "done", "error"]

CHUNK = 80
"""Streamed text comes in pieces of about this many characters (cut at spaces)."""


class ChatEvent(BaseModel):
    """One server-sent event: ``step`` (what the agent is doing), ``text`` (a piece of the
    answer), ``cite`` (an id the answer cites), ``error`` and finally ``done``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: EventKind
    data: dict[str, Any]


@dataclass(frozen=True)
class Citation:
    """``[kind:id]`` in the text; a metric's id is ``series=value`` (``signal`` says whose)."""

    kind: Literal["incident", "action", "decision", "signal", "control", "metric"]
    id: str
    signal: str | None = None

    @property
    def mark(self) -> str:
        return f"[{self.kind}:{self.id}]"

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "id": self.id}
        if self.signal is not None:
            out["signal"] = self.signal
        return out


@dataclass
class Answer:
    """Text and citations in the order they are said."""

    parts: list[str | Citation] = field(default_factory=list)

    def say(self, text: str) -> Answer:
        self.parts.append(text)
        return self

    def incident(self, incident: Incident) -> Answer:
        return self._cite(Citation("incident", incident.id))

    def action(self, record: ActionRecord) -> Answer:
        return self._cite(Citation("action", record.id))

    def decision(self, decision: Decision) -> Answer:
        return self._cite(Citation("decision", decision.id))

    def signal(self, signal: Signal) -> Answer:
        return self._cite(Citation("signal", signal.id))

    def control(self, control: Control) -> Answer:
        return self._cite(Citation("control", control.id))

    def metric(self, signal: Signal, evidence: Evidence) -> Answer:
        value = evidence.value
        shown = f"{value:.4g}" if isinstance(value, float | int) else str(value)
        return self._cite(Citation("metric", f"{signal.series}={shown}", signal=signal.id))

    def _cite(self, citation: Citation) -> Answer:
        self.parts.append(citation)
        return self

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.mark for p in self.parts)

    @property
    def citations(self) -> list[Citation]:
        return [p for p in self.parts if isinstance(p, Citation)]

    def events(self) -> Iterator[ChatEvent]:
        """``text`` events in chunks, each citation's ``cite`` event right after its mark."""
        pending = ""
        for part in self.parts:
            if isinstance(part, str):
                pending += part
                while len(pending) > CHUNK:
                    cut = _cut(pending)
                    yield ChatEvent(event="text", data={"text": pending[:cut]})
                    pending = pending[cut:]
                continue
            yield ChatEvent(event="text", data={"text": pending + part.mark})
            yield ChatEvent(event="cite", data=part.data())
            pending = ""
        if pending:
            yield ChatEvent(event="text", data={"text": pending})


def _cut(text: str) -> int:
    """Where to end a chunk: after the last space before :data:`CHUNK`, else at it."""
    space = [m.end() for m in re.finditer(r"\s", text[: CHUNK + 1])]
    return space[-1] if space else CHUNK
