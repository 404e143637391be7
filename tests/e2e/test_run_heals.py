"""End to end: ``aiops run --embedded`` detects an injected fault, opens an incident, acts within
policy (the rollback waits for the simulated operator's approval) and verifies recovery.

The control plane runs as the real console script in its own process, reaching the embedded
testbed only over HTTP; the database it leaves behind is checked afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.specialists import build_graph, checkpointer_for
from controlplane.domain import ActionKind, IncidentState, Tier
from controlplane.store import ActionStatus, Store

ROOT = Path(__file__).resolve().parents[2]
AIOPS = Path(sys.executable).with_name("aiops")


@pytest.mark.parametrize("policy", ["rules", pytest.param("local", marks=pytest.mark.llm)])
def test_aiops_run_heals_a_bad_release(tmp_path: Path, policy: str) -> None:
    url = f"sqlite:///{tmp_path / 'aiops.db'}"
    env = {**os.environ, "AIOPS_DATABASE_URL": url, "AIOPS_DATA_DIR": str(tmp_path)}
    command = [
        str(AIOPS), "run", "--embedded", "--fault", "bad-release", "--policy", policy,
        "--inject-after", "2700", "--limit", "6300",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    for expected in ("injected bad-release", "signal:", "opened", "decided rollback",
                     "operator: approved", "resolved", "healed"):  # fmt: skip
        assert expected in out, (expected, out[-3000:])
    assert (
        "bad-release"
        not in out.split("injected bad-release", 1)[1].replace("testbed:", "").split("healed")[0]
    ), "the fault's name reached the control plane's own lines"
    store = Store.open(url)
    try:
        with store.read() as tx:
            incidents = tx.incidents.find()
            actions = tx.actions.find()
        resolved = [i for i in incidents if i.state is IncidentState.RESOLVED]
        assert resolved, incidents
        done_actions = [a for a in actions if a.status is ActionStatus.SUCCEEDED]
        assert any(a.request.kind is ActionKind.ROLLBACK for a in done_actions), actions
        assert all(a.request.incident_id for a in actions)
        if policy == "local":  # the bundled model decided, accounted call by call
            with store.read() as tx:
                decisions = [d for i in incidents for d in tx.decisions.for_incident(i.id)]
            assert "local tier" in out, out[-3000:]
            assert decisions and all(d.tier is Tier.LOCAL for d in decisions), decisions
            call = decisions[0].calls[0]
            assert call.tier is Tier.LOCAL and call.prompt_tokens > 0 and call.latency_s > 0
            # the graph's run, paused for the approval, was resumed and closed from its checkpoint
            assert (tmp_path / "aiops.checkpoints.db").is_file()
            saver = checkpointer_for(url)
            graph = build_graph().compile(checkpointer=saver)
            config = {"configurable": {"thread_id": f"incident-{resolved[0].id}"}}
            trace = graph.get_state(config).values["trace"]  # type: ignore[arg-type]
            saver.conn.close()
            assert trace[-2:] == ["approval: approved", "supervisor: done"], trace
    finally:
        store.close()


def test_the_loop_takes_no_action_on_a_noisy_healthy_run(tmp_path: Path) -> None:
    """Ninety minutes of benign noise (deploys, error lines, cron spikes, node maintenance,
    drift) and no fault: no incident, no action."""
    from controlplane.settings import load_settings
    from evaluation.embedded import EmbeddedOptions, run_embedded

    url = f"sqlite:///{tmp_path / 'aiops.db'}"
    lines: list[str] = []
    result = run_embedded(
        load_settings(database_url=url),
        EmbeddedOptions(fault=None, limit_s=5400, seed=5),
        say=lines.append,
    )
    assert not result.actions
    signals = [s for r in result.reports for s in r.signals]
    assert not signals, [line for line in lines if "signal" in line]
    store = Store.open(url)
    try:
        with store.read() as tx:
            assert tx.incidents.find() == [] and tx.actions.find() == []
    finally:
        store.close()
