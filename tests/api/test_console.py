"""The web console in headless Chromium, driven like a person: fill in the token, click, read
what the page shows; then check the database.

Chromium is Debian's (``/usr/bin/chromium``); Playwright never downloads a browser here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.chat import ChatAgent, ChatEvent
from api import create_app
from controlplane.clock import ManualClock
from controlplane.domain import (
    ActionKind,
    ActionRequest,
    Candidate,
    Decision,
    Evidence,
    Incident,
    IncidentState,
    ReplicasState,
    Severity,
    Signal,
    TargetKind,
    TargetRef,
    Tier,
    TimelineEntry,
)
from controlplane.runtime import build_api
from controlplane.settings import Settings
from controlplane.store import ActionStatus, ApprovalDecision, ControlKind, Role, Store
from testbed.runner import TestbedServer
from tests.telemetry.servers import ThreadedServer

from .conftest import Tokens

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"the console tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the console tests need the Python package playwright"
)
expect = sync_api.expect

HOSTILE = '<img src="http://198.51.100.1/x.png" onerror="document.title=1">'
"""A log line that would fetch from outside and run script, were it rendered as HTML."""


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def requests_seen() -> list[str]:
    return []


@pytest.fixture
def page(browser: Any, requests_seen: list[str]) -> Iterator[Any]:
    """A fresh tab (its own sessionStorage); a script error on the page fails the test."""
    context = browser.new_context()
    context.set_default_timeout(5_000)
    tab = context.new_page()
    tab.on("request", lambda request: requests_seen.append(request.url))
    script_errors: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(str(error)))
    yield tab
    context.close()
    assert script_errors == []


def sign_in(page: Any, server: ThreadedServer, token: str) -> None:
    page.goto(server.url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Use token").click()


# --- seeding ------------------------------------------------------------------------------------


def add_incident(store: Store, clock: ManualClock, **fields: Any) -> Incident:
    values: dict[str, Any] = {
        "services": ["geo"],
        "namespace": "hotel",
        "severity": Severity.HIGH,
        "opened_at": clock.now() - 300,
        "timeline": [
            TimelineEntry(at=clock.now() - 300, kind="opened", summary="p99 of geo over 200 ms"),
            TimelineEntry(at=clock.now() - 240, kind="log", summary=HOSTILE),
        ],
    }
    values.update(fields)
    with store.write() as tx:
        return tx.incidents.add(Incident(**values))


def scale(replicas: int, incident_id: str | None, name: str = "geo") -> ActionRequest:
    return ActionRequest(
        kind=ActionKind.SCALE,
        target=TargetRef(kind=TargetKind.DEPLOYMENT, name=name, namespace="hotel"),
        desired=ReplicasState(replicas=replicas),
        reason=f"p99 over the SLO: scale {name} to {replicas}",
        decided_by="rules",
        incident_id=incident_id,
        created_at=1_000_000.0,
    )


def awaiting_approval(store: Store, clock: ManualClock, request: ActionRequest) -> str:
    """An action the guardrails sent to a person; the id of its pending approval."""
    with store.write() as tx:
        action = tx.actions.claim(request.idempotency_key, request, None).record
        return tx.approvals.request(action.id, expires_at=clock.now() + 600).id


# --- the page -----------------------------------------------------------------------------------


def test_open_an_incident_and_read_its_timeline(
    page: Any, live_api: ThreadedServer, store: Store, clock: ManualClock, tokens: Tokens
) -> None:
    add_incident(
        store,
        clock,
        services=["search"],
        state=IncidentState.RESOLVED,
        opened_at=clock.now() - 900,
        resolved_at=clock.now() - 600,
    )
    signal = Signal(
        detector="latency",
        series="p99/geo",
        service="geo",
        namespace="hotel",
        score=0.93,
        start=clock.now() - 320,
        evidence=[Evidence(name="p99_ms", value=412.0)],
    )
    with store.write() as tx:
        tx.signals.add(signal)
    incident = add_incident(store, clock, signal_ids=[signal.id])
    decision = Decision(
        incident_id=incident.id,
        agent="remediation",
        policy="hybrid",
        tier=Tier.LOCAL,
        model="smollm2",
        confidence=0.82,
        choice=0,
        at=clock.now() - 200,
        candidates=[
            Candidate(action=scale(4, incident.id), expected_effect="p99 under 200 ms", risk=0.2)
        ],
    )
    with store.write() as tx:
        tx.decisions.add(decision)

    sign_in(page, live_api, tokens.operator)
    rows = page.locator("#incident-list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("geo")
    expect(rows.first).to_contain_text("high")
    page.get_by_label("State").select_option("resolved")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("search")
    page.get_by_label("State").select_option("open")
    page.get_by_role("button", name=incident.id).click()

    detail = page.locator("#incident-detail")
    expect(detail.get_by_role("heading", name=f"Incident {incident.id}")).to_be_visible()
    timeline = detail.locator("#incident-timeline li")
    expect(timeline).to_have_count(3)
    expect(timeline.nth(0)).to_contain_text("p99 of geo over 200 ms")
    expect(timeline.nth(1)).to_contain_text(HOSTILE)  # shown as text, not run as HTML
    expect(timeline.nth(2)).to_contain_text("remediation (hybrid, local) chose scale")
    assert detail.locator("img").count() == 0
    expect(detail.locator("#incident-signals")).to_contain_text("latency p99/geo on geo")
    expect(detail.locator("#incident-decisions")).to_contain_text("tier local")
    expect(detail.locator("#incident-decisions")).to_contain_text("confidence 0.82")
    expect(detail.locator("#incident-decisions")).to_contain_text(
        "Chose: scale deployment/hotel/geo to 4 replicas — p99 under 200 ms"
    )

    detail.get_by_label("Reason (optional)").fill("on it")
    detail.get_by_role("button", name="Acknowledge").click()
    expect(detail.locator("#incident-facts")).to_contain_text("operator-token")
    with store.read() as tx:
        (ack,) = tx.audit.events(kind="incident.acknowledged")
    assert ack.actor == "operator-token" and ack.subject_id == incident.id


def test_approve_one_action_and_reject_another(
    page: Any, live_api: ThreadedServer, store: Store, clock: ManualClock, tokens: Tokens
) -> None:
    incident = add_incident(store, clock)
    approve_id = awaiting_approval(store, clock, scale(4, incident.id, "geo"))
    reject_id = awaiting_approval(store, clock, scale(6, incident.id, "rate"))

    sign_in(page, live_api, tokens.operator)
    cards = page.locator("#approval-list > li")
    expect(cards).to_have_count(2)
    geo = cards.filter(has_text="scale deployment/hotel/geo to 4 replicas")
    expect(geo).to_contain_text("p99 over the SLO: scale geo to 4")
    expect(geo).to_contain_text("expires 2023-11-14 22:23:20 UTC")
    geo.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text(
        "Approved: scale deployment/hotel/geo to 4 replicas."
    )
    expect(cards).to_have_count(1)

    rate = cards.filter(has_text="scale deployment/hotel/rate to 6 replicas")
    rate.get_by_label("Reason (optional)").fill("not at peak")
    rate.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("No approval is pending.")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()

    with store.read() as tx:
        approved, rejected = tx.approvals.get(approve_id), tx.approvals.get(reject_id)
        assert approved is not None and rejected is not None
        geo_action = tx.actions.get(approved.action_id)
        rate_action = tx.actions.get(rejected.action_id)
    assert approved.decision is ApprovalDecision.APPROVED
    assert approved.decided_by == "operator-token" and approved.reason is None
    assert rejected.decision is ApprovalDecision.REJECTED
    assert rejected.decided_by == "operator-token" and rejected.reason == "not at peak"
    assert geo_action is not None and geo_action.status is ActionStatus.APPROVED
    assert rate_action is not None and rate_action.status is ActionStatus.REFUSED


def test_pause_a_namespace_add_a_silence_and_lift_them(
    page: Any, live_api: ThreadedServer, store: Store, clock: ManualClock, tokens: Tokens
) -> None:
    sign_in(page, live_api, tokens.admin)
    expect(page.locator("#controls-state")).to_have_text("Nothing is paused or silenced.")
    pause = page.get_by_role("group", name="Pause")
    pause.get_by_label("Namespace (empty: everything)").fill("hotel")
    pause.get_by_label("Comment").fill("release freeze")
    pause.get_by_role("button", name="Pause").click()
    expect(page.locator("#controls-state")).to_have_text("Paused namespaces: hotel.")
    rows = page.locator("#control-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("namespace hotel")
    expect(rows.first).to_contain_text("release freeze")
    with store.read() as tx:
        state = tx.controls.state()
        (paused,) = tx.controls.list()
    assert state.paused_namespaces == ["hotel"] and not state.paused
    assert paused.kind is ControlKind.PAUSE and paused.namespace == "hotel"
    assert paused.created_by == "admin-token" and paused.comment == "release freeze"

    silence = page.get_by_role("group", name="Silence")
    silence.get_by_label("Target pattern").fill("deployment/hotel/*")
    silence.get_by_label("Ends in (minutes)").fill("30")
    silence.get_by_label("Comment").fill("load test")
    silence.get_by_role("button", name="Add silence").click()
    expect(rows).to_have_count(2)
    with store.read() as tx:
        (silenced,) = [c for c in tx.controls.list() if c.kind is ControlKind.SILENCE]
    assert silenced.target == "deployment/hotel/*"
    assert silenced.ends_at == clock.now() + 30 * 60  # counted from the server's clock

    page.get_by_role("button", name="Lift pause on namespace hotel").click()
    expect(rows).to_have_count(1)
    expect(page.locator("#controls-state")).to_have_text("1 silence(s) in force.")
    with store.read() as tx:
        lifted = tx.controls.get(paused.id)
        assert tx.controls.state().paused_namespaces == []
    assert lifted is not None and lifted.lifted_by == "admin-token"


def test_a_viewer_sees_why_it_cannot_approve(
    page: Any, live_api: ThreadedServer, store: Store, clock: ManualClock, tokens: Tokens
) -> None:
    approval_id = awaiting_approval(store, clock, scale(4, None))
    sign_in(page, live_api, "not-a-token")
    error = page.get_by_role("alert")
    expect(error).to_have_text("Error 401: the token is unknown, revoked or expired")

    page.get_by_label("API token").fill(tokens.viewer)
    page.get_by_role("button", name="Use token").click()
    expect(error).to_be_hidden()
    card = page.locator("#approval-list > li")
    card.get_by_role("button", name="Approve").click()
    expect(error).to_have_text("Error 403: this needs the operator role; the token has viewer")
    expect(card).to_have_count(1)
    with store.read() as tx:
        approval = tx.approvals.get(approval_id)
        assert approval is not None and approval.decision is None
        assert tx.audit.events(kind="approval.approved") == []

    pause = page.get_by_role("group", name="Pause")
    pause.get_by_label("Namespace (empty: everything)").fill("hotel")
    pause.get_by_role("button", name="Pause").click()
    expect(error).to_have_text("Error 403: this needs the admin role; the token has viewer")
    with store.read() as tx:
        assert tx.controls.list() == []


# --- chat ---------------------------------------------------------------------------------------


@pytest.mark.llm  # the agent's router loads the embedded model (no call is made for one intent)
def test_ask_a_question_and_follow_the_citation(
    page: Any,
    settings: Settings,
    store: Store,
    clock: ManualClock,
    tokens: Tokens,
    testbed: TestbedServer,
) -> None:
    incident = add_incident(store, clock)
    app = build_api(settings.model_copy(update={"testbed_url": testbed.url}), store=store)
    assert isinstance(app.state.ctx.chat, ChatAgent)
    with ThreadedServer(app) as server:
        sign_in(page, server, tokens.viewer)
        page.get_by_label("Question").fill("what is going on?")
        page.get_by_role("button", name="Ask").click()
        answer = page.locator("#chat-log .answer").last
        expect(answer.locator(".chat-state")).to_have_text("done")
        text = answer.locator(".answer-text")
        expect(text).to_contain_text("1 open incident(s)")
        expect(text).to_contain_text(f"incident {incident.id} high, open, about geo")
        expect(answer.locator(".steps")).to_contain_text("parse: intents list the open incidents")
        expect(answer.locator(".cites li")).to_have_text([f"incident {incident.id}"])
        expect(page.locator("#error")).to_be_hidden()

        text.get_by_role("link", name=f"incident {incident.id}").click()
        heading = page.get_by_role("heading", name=f"Incident {incident.id}")
        expect(heading).to_be_visible()
        expect(page.locator("#incident-timeline li")).to_have_count(2)


class StubAgentHeldMidAnswer:
    """A stand-in for :class:`agents.chat.ChatAgent` that stops halfway through its answer
    until ``finish`` is set: the real agent answers too fast to watch the text arrive."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id, self.finish = incident_id, threading.Event()

    def answer(self, message: str, *, caller: str, role: Role) -> Iterator[ChatEvent]:
        cite = {"kind": "incident", "id": self.incident_id}
        yield ChatEvent(event="step", data={"step": "parse", "intents": ["list the incidents"]})
        yield ChatEvent(event="text", data={"text": f"{caller} asked {message!r}: one incident, "})
        yield ChatEvent(event="text", data={"text": f"[incident:{self.incident_id}]"})
        yield ChatEvent(event="cite", data=cite)
        yield ChatEvent(event="text", data={"text": ", is open"})
        self.finish.wait(10)
        yield ChatEvent(event="text", data={"text": " at p99 [metric:p99/geo=412]"})
        metric = {"kind": "metric", "id": "p99/geo=412", "signal": "s1"}
        yield ChatEvent(event="cite", data=metric)
        yield ChatEvent(event="text", data={"text": "; nobody has acknowledged it."})
        yield ChatEvent(event="done", data={"status": "ok"})


def test_the_answer_shows_as_it_streams_from_a_stub_agent(
    page: Any, settings: Settings, store: Store, clock: ManualClock, tokens: Tokens
) -> None:
    incident = add_incident(store, clock)
    agent = StubAgentHeldMidAnswer(incident.id)
    with ThreadedServer(create_app(settings, store=store, chat=agent)) as server:
        sign_in(page, server, tokens.viewer)
        page.get_by_label("Question").fill("what is broken?")
        page.get_by_role("button", name="Ask").click()
        answer = page.locator("#chat-log .answer").last
        text = answer.locator(".answer-text")
        # the first words are on the page while the rest of the answer is still to come
        expect(text).to_have_text(
            f"viewer-token asked 'what is broken?': one incident, incident {incident.id}, is open"
        )
        expect(answer.locator(".chat-state")).to_have_text("answering…")
        expect(page.get_by_role("button", name="Ask")).to_be_disabled()
        agent.finish.set()
        expect(text).to_have_text(
            re.compile(r"is open at p99 metric p99/geo=412; nobody has acknowledged it\.$")
        )
        expect(answer.locator(".chat-state")).to_have_text("done")
        expect(answer.locator(".steps")).to_have_text("parse: intents list the incidents")
        expect(answer.locator(".cites li")).to_have_text(
            [f"incident {incident.id}", "metric p99/geo=412 (signal s1)"]
        )
        expect(page.get_by_role("button", name="Ask")).to_be_enabled()


# --- what the page loads ------------------------------------------------------------------------


def test_the_page_loads_nothing_from_elsewhere_and_keeps_the_token_out_of_the_url(
    page: Any,
    requests_seen: list[str],
    live_api: ThreadedServer,
    store: Store,
    clock: ManualClock,
    tokens: Tokens,
) -> None:
    incident = add_incident(store, clock)
    awaiting_approval(store, clock, scale(4, incident.id))
    sign_in(page, live_api, tokens.operator)
    page.get_by_role("button", name=incident.id).click()
    expect(page.locator("#incident-timeline li")).to_have_count(2)
    expect(page.locator("#approval-list > li")).to_have_count(1)
    expect(page.locator("#control-list tbody tr")).to_have_count(0)
    page.reload()  # the token survives a reload of the tab
    expect(page.locator("#approval-list > li")).to_have_count(1)

    assert requests_seen
    elsewhere = [url for url in requests_seen if not url.startswith(live_api.url + "/")]
    assert elsewhere == []
    assert tokens.operator not in " ".join(requests_seen)
    assert tokens.operator not in page.url
    assert page.evaluate("Object.values(sessionStorage)") == [tokens.operator]
    assert page.get_by_label("API token").input_value() == ""
