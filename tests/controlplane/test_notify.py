"""Outbound notifications: a real webhook receiver on loopback gets a JSON body when the loop
hands an incident to a person; an unreachable webhook is audited and never stops the loop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controlplane.domain import ActionKind, Incident, IncidentState
from controlplane.notify import Notifier
from controlplane.store import Store

from .test_loop_controls import NS, WARM_TICKS, Running, running  # noqa: F401 (fixture)


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_the_loop_notifies_a_person_when_it_hands_an_incident_over(
    running: Running,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,
) -> None:
    running.loop.notifier = Notifier(running.store, receiver.url, console_url="http://console")
    with running.store.write() as tx:  # every action refused: the loop escalates to a person
        tx.controls.pause(NS, by="alice", comment="release freeze")
    for _ in range(WARM_TICKS):
        running.tick()
    running.cluster.fault_engine.inject("scale-to-zero", {"service": "geo"}, namespace=NS)
    for _ in range(40):
        running.tick()
        if any(a.request.kind is ActionKind.ESCALATE for a in running.actions()):
            break
    with running.store.read() as tx:
        handed = tx.incidents.find(states=[IncidentState.NEEDS_HUMAN])
        sent = tx.audit.events(kind="notification.sent")
    assert handed, running.lines[-20:]
    (body,) = [b for b in receiver.bodies if b["kind"] == "needs_human"]
    assert body["incident_id"] == handed[0].id and "geo" in body["services"]
    assert body["links"]["incident"] == f"http://console/#incident/{handed[0].id}"
    assert [e.subject_id for e in sent] == [handed[0].id]


def test_an_unreachable_webhook_is_audited_and_reported_false(store: Store) -> None:
    with Receiver() as gone:
        url = gone.url  # closed on exit: nothing listens there any more
    incident = Incident(opened_at=store.clock.now(), services=["geo"])
    notifier = Notifier(store, url, timeout_s=2)
    try:
        assert notifier.needs_human(incident, "nothing left to try") is False
    finally:
        notifier.close()
    with store.read() as tx:
        (event,) = tx.audit.events(kind="notification.failed")
    assert event.subject_id == incident.id and event.details["kind"] == "needs_human"


def test_a_webhook_answering_an_error_counts_as_not_delivered(store: Store) -> None:
    with Receiver(status=500) as failing:
        notifier = Notifier(store, failing.url)
        incident = Incident(opened_at=store.clock.now(), services=["geo"])
        try:
            assert notifier.approval_requested(incident, "rollback geo") is False
        finally:
            notifier.close()
        assert failing.bodies[0]["kind"] == "approval_requested"
