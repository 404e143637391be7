"""API: the FastAPI app for incidents, actions, approvals, operator controls and chat."""

from api.app import ApiContext, create_app

__all__ = ["ApiContext", "create_app"]
