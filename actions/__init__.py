"""Actions: the catalogue, guardrail policy, executor, Kubernetes backend and audit trail."""

__all__: list[str] = []
