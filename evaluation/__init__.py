"""Evaluation: scenarios, the harness that runs policies against them, scoring and reports."""

__all__: list[str] = []
