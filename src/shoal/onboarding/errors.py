"""The refusal every guided-setup action raises, with the status and code the API answers."""

from __future__ import annotations


class SetupError(Exception):
    """A refused setup action, with the HTTP status and code the API answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_ready(message: str) -> SetupError:
    """The refusal of a step taken before the steps it needs."""
    return SetupError(409, "step_not_ready", message)
