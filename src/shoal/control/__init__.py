"""The control plane: workspaces, members, API tokens and sources (SQLAlchemy Core)."""

from shoal.control.repo import ControlPlane, NotFound, Source, User, Workspace

__all__ = ["ControlPlane", "NotFound", "Source", "User", "Workspace"]
