"""An executor process for the crash test: reconcile, then carry out a fixed plan of actions.

``python -m tests.actions.crash_worker DATABASE_URL TESTBED_URL`` prints ``ready`` once its
imports are done (the parent kills it at a random moment after that), reconciles what an
earlier, killed run left unfinished, submits every action of :func:`plan` in order and prints
``done``. The plan is the same in every run (fixed ids, times and keys), so a restarted worker
replays it and the store's idempotency keys decide what still needs doing.
"""

from __future__ import annotations

import sys

from actions import KubernetesBackend, api_client
from actions.executor import Executor
from actions.guardrails import GuardrailConfig, Guardrails, RateLimit
from controlplane.domain import ActionKind, ActionRequest, ReplicasState, TargetKind, TargetRef
from controlplane.store import Store

NS = "hotel"
SERVICES = ("search", "geo", "rate", "profile")
STEPS = 30
CREATED_AT = 1_767_000_000.0


def replicas_at(step: int) -> int:
    """The replicas step ``step`` asks for: 3, 4, 3, 4, … (each differs from the one before)."""
    return 3 + step % 2


def plan() -> list[ActionRequest]:
    """``STEPS`` rounds of scaling each of four Deployments, interleaved: each action changes
    its target (a fresh incident per round keeps the idempotency keys distinct)."""
    out = []
    for step in range(STEPS):
        for service in SERVICES:
            out.append(
                ActionRequest(
                    id=f"crash-{service}-{step}",
                    kind=ActionKind.SCALE,
                    target=TargetRef(kind=TargetKind.DEPLOYMENT, namespace=NS, name=service),
                    desired=ReplicasState(replicas=replicas_at(step)),
                    reason="crash test",
                    decided_by="crash-worker",
                    incident_id=f"crash-test-{step}",
                    created_at=CREATED_AT,
                )
            )
    return out


def guardrails() -> Guardrails:
    """The defaults, but no cooldown and no rate limit: the plan acts on the same targets."""
    return Guardrails(GuardrailConfig(cooldown_seconds=0, rate_limit=RateLimit(max_actions=10_000)))


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(database_url: str, testbed_url: str) -> None:
    store = Store.open(database_url, actor="crash-worker")
    backend = KubernetesBackend(api_client(host=testbed_url), timeout_s=10)
    executor = Executor(store, backend, guardrails())
    say("ready")
    executor.reconcile()
    for request in plan():
        executor.submit(request)
    say("done")
    backend.close()
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
