"""API: the FastAPI app for incidents, actions, approvals, operator controls and chat."""

__all__: list[str] = []
