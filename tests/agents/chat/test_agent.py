"""The chat agent over a seeded store: events in order, citations that exist, changes that need
a role (the cluster-facing paths are in tests/api/test_chat.py, against the testbed)."""

from __future__ import annotations

import re
from typing import Any

from agents.chat import DECIDE_ANSWER, Answer, ChatAgent, ChatEvent
from agents.llm import Router
from controlplane import ActionFailed
from controlplane.store import Role, Store

from ..factories import ScriptedTier
from .factories import Seeded


def ask(agent: ChatAgent, message: str, role: Role = Role.VIEWER) -> list[ChatEvent]:
    return list(agent.answer(message, caller="alice", role=role))


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "text")


def cites(events: list[ChatEvent]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == "cite"]


def exists(store: Store, kind: str, ident: str, signal: str | None = None) -> bool:
    with store.read() as tx:
        if kind == "incident":
            return tx.incidents.get(ident) is not None
        if kind == "action":
            return tx.actions.get(ident) is not None
        if kind == "decision":
            return tx.decisions.get(ident) is not None
        if kind == "signal":
            return tx.signals.get(ident) is not None
        if kind == "control":
            return tx.controls.get(ident) is not None
        if kind == "metric":
            found = tx.signals.get(signal or "")
            series, _, value = ident.rpartition("=")
            return (
                found is not None
                and found.series == series
                and any(
                    not isinstance(e.value, str) and f"{e.value:.4g}" == value
                    for e in found.evidence
                )
            )
    raise AssertionError(kind)


def assert_cited_ids_exist(store: Store, events: list[ChatEvent]) -> None:
    text = text_of(events)
    sent = cites(events)
    marks = re.findall(r"\[(incident|action|decision|signal|control|metric):([^\]]+)\]", text)
    assert marks == [(c["kind"], c["id"]) for c in sent]
    for c in sent:
        assert exists(store, c["kind"], c["id"], c.get("signal")), c


def test_why_is_search_slow(store: Store, seeded: Seeded, router: Router) -> None:
    events = ask(ChatAgent(store, router), "why is search slow?")
    assert [e.event for e in events][:3] == ["step", "step", "step"]
    assert events[-1].event == "done" and events[-1].data["status"] == "ok"
    assert events[-1].data["intent"] == "explain" and events[-1].data["calls"] == []
    assert_cited_ids_exist(store, events)
    kinds = {c["kind"] for c in cites(events)}
    assert kinds == {"incident", "decision", "signal", "metric", "action"}
    text = text_of(events)
    assert "[metric:service/hotel/search/p99_ms=812]" in text and "baseline 120" in text
    assert "scale deployment/hotel/geo to 2 replicas" in text
    assert "most likely deployment/hotel/geo" in text


def test_what_did_you_do_to_geo_and_why(
    store: Store, seeded: Seeded, tier: ScriptedTier, router: Router
) -> None:
    events = ask(ChatAgent(store, router), "what did you do to geo and why?")
    done = events[-1].data
    assert done["intent"] == "history" and len(tier.seen) == 1
    (call,) = done["calls"]
    assert call["tier"] == "local" and call["prompt_tokens"] == 100 and call["latency_s"] > 0
    assert done["prompt_tokens"] == 100 and done["output_tokens"] == 1
    assert_cited_ids_exist(store, events)
    assert {(c["kind"], c["id"]) for c in cites(events)} >= {
        ("action", seeded.action.id),
        ("incident", seeded.incident.id),
        ("decision", seeded.decision.id),
    }
    assert "geo saturated: search waits on it" in text_of(events)


def test_status_and_an_empty_store(store: Store, router: Router) -> None:
    events = ask(ChatAgent(store, router), "what is going on?")
    assert text_of(events) == "No incident is open." and cites(events) == []
    events = ask(ChatAgent(store, router), "scale search to 4", Role.OPERATOR)
    assert text_of(events) == "I know nothing named search. I know no services yet."


def test_a_change_needs_the_role(store: Store, seeded: Seeded, router: Router) -> None:
    agent = ChatAgent(store, router)
    with store.read() as tx:
        before = len(tx.audit.events())
    events = ask(agent, "pause everything in hotel", Role.OPERATOR)
    assert "needs the admin role" in text_of(events) and "Nothing was changed" in text_of(events)
    assert events[-1].data["status"] == "refused"
    events = ask(agent, "scale search to 4", Role.VIEWER)
    assert "needs the operator role; your token has viewer" in text_of(events)
    with store.read() as tx:
        assert tx.controls.list() == []
        assert len(tx.audit.events()) == before  # as a 403: nothing recorded


def test_pause_and_resume_with_admin(store: Store, seeded: Seeded, router: Router) -> None:
    agent = ChatAgent(store, router)
    events = ask(agent, "pause everything in hotel", Role.ADMIN)
    assert_cited_ids_exist(store, events)
    with store.read() as tx:
        state = tx.controls.state()
    assert state.paused_namespaces == ["hotel"] and not state.paused
    (control,) = state.controls
    assert control.created_by == "alice" and cites(events) == [
        {"kind": "control", "id": control.id}
    ]
    events = ask(agent, "resume hotel", Role.ADMIN)
    assert_cited_ids_exist(store, events)
    with store.read() as tx:
        assert tx.controls.state().paused_namespaces == []
    assert "were not paused" in text_of(ask(agent, "resume hotel", Role.ADMIN))


def test_actions_without_a_cluster_are_not_asked_for(
    store: Store, seeded: Seeded, router: Router
) -> None:
    events = ask(ChatAgent(store, router), "scale search to 4", Role.OPERATOR)
    assert "no cluster connection" in text_of(events)
    assert events[-1].data["status"] == "error"
    with store.read() as tx:
        assert [a.id for a in tx.actions.page()] == [seeded.action.id]


def test_approving_is_for_the_approvals_route(store: Store, router: Router) -> None:
    events = ask(ChatAgent(store, router), "approve it", Role.ADMIN)
    assert text_of(events) == DECIDE_ANSWER


def test_an_answer_streams_in_chunks_with_each_citation_after_its_mark(
    store: Store, seeded: Seeded
) -> None:
    answer = Answer().say("word " * 50).incident(seeded.incident).say(" and ").action(seeded.action)
    events = list(answer.events())
    assert "".join(e.data["text"] for e in events if e.event == "text") == answer.text
    assert all(len(e.data["text"]) <= 80 + 60 for e in events if e.event == "text")
    kinds = [e.event for e in events]
    assert kinds[-4:] == ["text", "cite", "text", "cite"]
    assert events[-4].data["text"].endswith(f"[incident:{seeded.incident.id}]")


class UnreachableCluster:
    """A cluster gate whose API cannot be reached (a real stand-in, not a patch)."""

    @property
    def backend(self) -> Any:
        return self

    def observe(self, target: Any) -> Any:
        raise ActionFailed(f"cannot observe {target}: connection refused")

    def preview(self, request: Any) -> Any:
        raise ActionFailed(f"cannot observe {request.target}: connection refused")


def test_an_unreachable_cluster_is_an_error_event_then_done(
    store: Store, seeded: Seeded, router: Router
) -> None:
    agent = ChatAgent(store, router, executor=UnreachableCluster())
    events = ask(agent, "scale search to 4", Role.OPERATOR)
    assert [e.event for e in events][-2:] == ["error", "done"]
    assert "connection refused" in events[-2].data["message"]
    assert events[-1].data["status"] == "error"
    with store.read() as tx:
        assert [a.id for a in tx.actions.page()] == [seeded.action.id]
    # names the store does not know cannot be confirmed: answered with what is known
    events = ask(agent, "restart frontend", Role.OPERATOR)
    assert "I know nothing named frontend" in text_of(events)
