"""The operator chat: a question in plain words, an answer citing the records it rests on.

:meth:`ChatAgent.answer` is a generator of :class:`~agents.chat.events.ChatEvent`::

    names the store knows (and, for words it does not, the cluster)   step "names"
    the message's candidate intents, found without a model            step "parse"
    one of them chosen: by the router (local tier first) when several step "choose"
    the tool: read the store, or ask for a change                     step "tool"
    the answer, in chunks, each citation after its mark               text, cite
    the model calls made (tier, tokens, latency)                      done

Nothing the operator typed becomes a target unless it names something known, and the model
only ever picks one of the intents offered. A change goes through the role check, the
guardrails (``preview``) and the store, as an action asked for through the API does.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

from agents.llm import Router
from controlplane import AIOpsError, Clock, ModelCall
from controlplane.store import Role, Store

from .changes import ClusterGate, change
from .choose import Choice, choose
from .events import Answer, ChatEvent
from .intents import Intent, IntentKind, Parsed, parse
from .names import Inventory
from .tools import ToolResult, explain, history, status

__all__ = ["DECIDE_ANSWER", "ChatAgent"]

log = logging.getLogger(__name__)

DECIDE_ANSWER = (
    "I cannot approve or reject actions in chat: a person decides on the approvals route "
    "(POST /approvals/<id>/approve or /reject, or the console). Ask me 'what is going on?' "
    "to see what waits for approval."
)


class ChatAgent:
    """Answers operators over ``store``; chooses among intents with ``router``; confirms names
    and previews changes with ``executor`` (``None``: the store's names only, no changes)."""

    def __init__(
        self,
        store: Store,
        router: Router,
        *,
        executor: ClusterGate | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store, self.router, self.executor = store, router, executor
        self.clock: Clock = clock or store.clock
        self.inventory = Inventory(store, executor.backend if executor is not None else None)

    def answer(self, message: str, *, caller: str, role: Role) -> Iterator[ChatEvent]:
        """Stream the answer to ``message`` from ``caller`` (whose token has ``role``)."""
        done: dict[str, Any] = {"intent": None, "status": "error"}
        calls: tuple[ModelCall, ...] = ()
        try:
            parsed = yield from self._parse(message)
            if parsed.decide:
                result = ToolResult("refused", Answer().say(DECIDE_ANSWER))
            elif not parsed.candidates:
                result = ToolResult("no_data", Answer().say(parsed.problem or ""))
            else:
                choice = choose(self.router, message, parsed)
                calls = choice.calls
                yield _step("choose", _chosen(choice))
                result = self._run(choice, parsed, message, caller, role)
                done["intent"] = None if choice.intent is None else str(choice.intent.kind)
            yield _step("tool", {"status": result.status, **result.details})
            done["status"] = result.status
            done["citations"] = len(result.answer.citations)
            yield from result.answer.events()
        except AIOpsError as exc:
            log.warning("chat: %s", exc)
            yield ChatEvent(event="error", data={"message": str(exc)[:500]})
        yield ChatEvent(event="done", data={**done, **_accounted(calls)})

    def _parse(self, message: str) -> Generator[ChatEvent, None, Parsed]:
        known = self.inventory.known()
        parsed = parse(message, known)
        if parsed.wants_names and self.inventory.backend is not None:
            known, probed = self.inventory.confirm(known, parsed.unknown)
            yield _step("names", {"looked_up": probed})
            parsed = parse(message, known)
        yield _step(
            "parse",
            {
                "intents": [i.describe() for i in parsed.candidates],
                "kinds": [str(i.kind) for i in parsed.candidates],
                "prior": [round(p, 3) for p in parsed.prior()],
            },
        )
        return parsed

    def _run(
        self, choice: Choice, parsed: Parsed, message: str, caller: str, role: Role
    ) -> ToolResult:
        intent = choice.intent
        if intent is None:
            options = " or ".join(f"'{i.describe()}'" for i in parsed.candidates)
            text = f"I could not tell which you meant: {options}. Ask for one of them."
            return ToolResult("no_data", Answer().say(text))
        result = self._tool(intent, message, caller, role)
        if parsed.note:
            result.answer.parts.insert(0, parsed.note + " ")
        return result

    def _tool(self, intent: Intent, message: str, caller: str, role: Role) -> ToolResult:
        now = self.clock.now()
        if intent.changes:
            return change(
                self.store,
                self.executor,
                intent,
                caller=caller,
                role=role,
                message=message,
                now=now,
            )
        if intent.kind is IntentKind.EXPLAIN:
            return explain(self.store, intent.services, now)
        if intent.kind is IntentKind.HISTORY:
            return history(self.store, intent.services, now)
        return status(self.store, now)


def _step(name: str, data: dict[str, Any]) -> ChatEvent:
    return ChatEvent(event="step", data={"step": name, **data})


def _chosen(choice: Choice) -> dict[str, Any]:
    return {
        "intent": None if choice.intent is None else choice.intent.describe(),
        "tier": str(choice.tier),
        "escalation_reason": choice.escalation_reason,
    }


def _accounted(calls: tuple[ModelCall, ...]) -> dict[str, Any]:
    """The model calls made for this answer, and their sums."""
    return {
        "calls": [
            c.model_dump(
                mode="json",
                include={
                    "tier",
                    "model",
                    "outcome",
                    "prompt_tokens",
                    "output_tokens",
                    "latency_s",
                    "cost_usd",
                    "margin",
                    "escalation_reason",
                },
            )
            for c in calls
        ],
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "latency_s": round(sum(c.latency_s for c in calls), 4),
        "cost_usd": sum(c.cost_usd for c in calls),
    }
