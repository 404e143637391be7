"""Evaluation runs and their episodes: written by ``aiops eval``, read by reports and the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.domain import new_id
from controlplane.store.models import EvalEpisodeRow, EvalRunRow

__all__ = ["EvaluationRepository"]


class EvaluationRepository:
    """Evaluation rows in one session's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def start_run(
        self, suite: str, policies: Sequence[str], seeds: Sequence[int], at: float
    ) -> str:
        run_id = new_id()
        self._session.add(
            EvalRunRow(
                id=run_id,
                suite=suite,
                policies=list(policies),
                seeds=list(seeds),
                started_at=at,
                finished_at=None,
                wall_s=None,
                summary={},
            )
        )
        return run_id

    def add_episode(self, run_id: str, record: Mapping[str, Any]) -> None:
        self._session.add(
            EvalEpisodeRow(
                run_id=run_id,
                scenario=str(record["scenario"]),
                seed=int(record["seed"]),
                policy=str(record["policy"]),
                success=bool(record["success"]),
                record=dict(record),
            )
        )

    def finish_run(self, run_id: str, summary: Mapping[str, Any], at: float, wall_s: float) -> None:
        row = self._session.get(EvalRunRow, run_id)
        if row is None:
            raise KeyError(run_id)
        row.summary, row.finished_at, row.wall_s = dict(summary), at, wall_s

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        query = select(EvalRunRow).order_by(EvalRunRow.started_at.desc()).limit(limit)
        return [
            {
                "id": r.id,
                "suite": r.suite,
                "policies": r.policies,
                "seeds": r.seeds,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "wall_s": r.wall_s,
                "summary": r.summary,
            }
            for r in self._session.scalars(query)
        ]

    def episodes(self, run_id: str) -> list[dict[str, Any]]:
        query = (
            select(EvalEpisodeRow)
            .where(EvalEpisodeRow.run_id == run_id)
            .order_by(EvalEpisodeRow.id)
        )
        return [dict(r.record) for r in self._session.scalars(query)]
