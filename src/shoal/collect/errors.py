"""Client errors of the edge, answered as ``{"code", "message"}`` like Segment's API."""

from __future__ import annotations

from starlette.responses import JSONResponse


class EdgeError(Exception):
    """A request the edge refuses; never a server fault."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The JSON answer for this error."""
        return JSONResponse(
            {"code": self.code, "message": self.message}, self.status, headers=self.headers
        )
